"""pytest set-up of the HW5 self-checks: one marker per task id."""

TASKS = {
    "hw5_conv_forward": "conv_forward_naive (intro2ai/layers.py)",
    "hw5_conv_backward": "conv_backward_naive (intro2ai/layers.py)",
    "hw5_max_pool_forward": "max_pool_forward_naive (intro2ai/layers.py)",
    "hw5_max_pool_backward": "max_pool_backward_naive (intro2ai/layers.py)",
    "hw5_three_layer_convnet": "ThreeLayerConvNet (intro2ai/classifiers/cnn.py)",
}


def pytest_configure(config):
    for task, what in TASKS.items():
        config.addinivalue_line("markers", f"{task}: HW5 task {what}")
