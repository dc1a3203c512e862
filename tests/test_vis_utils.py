"""Tests of intro2ai.vis_utils.visualize_grid."""

from __future__ import annotations

import numpy as np
import pytest

from intro2ai.vis_utils import vis_grid, visualize_grid


def test_visualize_grid_layout_and_scaling():
    rng = np.random.default_rng(0)
    filters = rng.standard_normal((5, 3, 4, 2))  # (F, C, HH, WW) as in model.params['W1']
    grid = visualize_grid(filters.transpose(0, 2, 3, 1))
    # 5 images -> 3x3 grid of 4x2 cells with 1-pixel gaps
    assert grid.shape == (3 * 4 + 2, 3 * 2 + 2, 3)
    first = grid[0:4, 0:2]
    assert first.min() == 0.0 and first.max() == pytest.approx(255.0)
    # the cell right of the first one holds image 1; the gap column between them is blank
    assert np.all(grid[0:4, 2] == 0)
    img1 = filters[1].transpose(1, 2, 0)
    expected = 255.0 * (img1 - img1.min()) / (img1.max() - img1.min())
    np.testing.assert_allclose(grid[0:4, 3:5], expected)
    assert np.all(grid[10:14, 6:8] == 0), "unused cells stay blank"


def test_visualize_grid_grayscale_and_constant_images():
    grid = visualize_grid(np.ones((4, 3, 3)), padding=0)
    assert grid.shape == (6, 6, 1)
    assert np.all(grid == 0), "a constant image has no range; it is drawn as 0, not NaN"


def test_visualize_grid_rejects_channels_first_batch():
    with pytest.raises(ValueError, match=r"visualize_grid: Xs must be .*\(N, H, W, C\).*\(2, 3\)"):
        visualize_grid(np.zeros((2, 3)))


def test_vis_grid_range():
    grid = vis_grid(np.random.default_rng(1).standard_normal((3, 2, 2, 3)))
    assert grid.shape == (2 * 2 + 3, 2 * 2 + 3, 3)
    assert grid.min() == 0.0 and grid.max() == 1.0


def test_show_before_after_draws_pairs():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from intro2ai.vis_utils import show_before_after

    rng = np.random.default_rng(1)
    before = rng.random((12, 1, 5, 4))
    after = before[:, :, ::-1]
    fig = show_before_after(before, after, ("original", "flipped"), n=10)
    axes = np.array(fig.axes).reshape(2, 10)
    np.testing.assert_array_equal(axes[0, 3].images[0].get_array(), before[3, 0])
    np.testing.assert_array_equal(axes[1, 9].images[0].get_array(), after[9, 0])
    assert axes[0, 0].get_title(loc="left") == "original" and axes[1, 0].get_title(loc="left") == "flipped"
    plt.close(fig)
    with pytest.raises(ValueError, match="one shape"):
        show_before_after(before, after[:3])
