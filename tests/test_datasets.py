"""Loaders and synthetic writers of intro2ai.datasets, on tiny genuine-format files."""

from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intro2ai import data_utils, datasets
from intro2ai.datasets import _paths, cifar10, idx, mnist, synthetic


@pytest.fixture
def cifar_root(tmp_path):
    synthetic.write_cifar10(tmp_path, n_per_batch=40, n_test=30, seed=1)
    return tmp_path


@pytest.fixture
def idx_root(tmp_path):
    synthetic.write_idx_set(tmp_path / "mnist", n_train=50, n_test=20, seed=2)
    synthetic.write_idx_set(tmp_path / "fashion-mnist", n_train=30, n_test=10, seed=3)
    return tmp_path


# ---------------------------------------------------------------- CIFAR-10 files


def test_write_cifar10_genuine_layout(cifar_root):
    folder = cifar_root / "cifar-10-batches-py"
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(
        [
            "data_batch_1",
            "data_batch_2",
            "data_batch_3",
            "data_batch_4",
            "data_batch_5",
            "test_batch",
            "batches.meta",
        ]
    )
    # Read back with plain pickle, the way the real files are read elsewhere.
    with open(folder / "data_batch_3", "rb") as fh:
        d = pickle.load(fh, encoding="bytes")
    assert set(d) >= {b"data", b"labels", b"batch_label", b"filenames"}
    assert d[b"data"].dtype == np.uint8 and d[b"data"].shape == (40, 3072)
    assert isinstance(d[b"labels"], list) and all(isinstance(v, int) for v in d[b"labels"])
    with open(folder / "batches.meta", "rb") as fh:
        meta = pickle.load(fh, encoding="bytes")
    assert meta[b"label_names"][0] == b"airplane" and meta[b"num_vis"] == 3072


def test_write_cifar10_is_deterministic(tmp_path):
    a = synthetic.write_cifar10(tmp_path / "a", n_per_batch=5, n_test=5, seed=7)
    b = synthetic.write_cifar10(tmp_path / "b", n_per_batch=5, n_test=5, seed=7)
    c = synthetic.write_cifar10(tmp_path / "c", n_per_batch=5, n_test=5, seed=8)
    assert (a / "data_batch_1").read_bytes() == (b / "data_batch_1").read_bytes()
    assert (a / "data_batch_1").read_bytes() != (c / "data_batch_1").read_bytes()


def test_load_cifar10_cs231n_layout(cifar_root):
    Xtr, Ytr, Xte, Yte = datasets.load_CIFAR10(cifar_root / "cifar-10-batches-py")
    assert Xtr.shape == (200, 32, 32, 3) and Xtr.dtype == np.float64
    assert Xte.shape == (30, 32, 32, 3)
    assert Ytr.shape == (200,) and Ytr.dtype == np.int64 and set(Ytr) <= set(range(10))
    # The data directory works as well as the batches folder.
    Xtr2, _, _, _ = datasets.load_CIFAR10(cifar_root)
    np.testing.assert_array_equal(Xtr, Xtr2)


def test_load_cifar10_pixel_order_matches_raw_rows(cifar_root):
    """Row layout: 1024 R, then G, then B values, each row-major 32x32."""
    with open(cifar_root / "cifar-10-batches-py" / "data_batch_1", "rb") as fh:
        raw = pickle.load(fh, encoding="bytes")[b"data"]
    X, _ = datasets.load_CIFAR_batch(cifar_root / "cifar-10-batches-py" / "data_batch_1")
    img = raw[3]
    assert X[3, 0, 1, 0] == img[1]  # red, row 0, col 1
    assert X[3, 2, 5, 1] == img[1024 + 2 * 32 + 5]  # green, row 2, col 5
    assert X[3, 31, 31, 2] == img[3071]  # blue, last pixel


def test_get_cifar10_data_cs231n_semantics(cifar_root):
    data = datasets.get_CIFAR10_data(
        num_training=150, num_validation=20, num_test=25, data_dir=cifar_root
    )
    assert set(data) == {"X_train", "y_train", "X_val", "y_val", "X_test", "y_test"}
    assert data["X_train"].shape == (150, 3, 32, 32)
    assert data["X_val"].shape == (20, 3, 32, 32)
    assert data["X_test"].shape == (25, 3, 32, 32)
    assert data["X_train"].dtype == np.float64 and data["y_val"].dtype == np.int64

    Xtr, Ytr, Xte, Yte = datasets.load_CIFAR10(cifar_root)
    mean = Xtr[:150].mean(axis=0)
    expected_val = (Xtr[150:170] - mean).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(data["X_val"], expected_val, atol=1e-9)
    np.testing.assert_array_equal(data["y_val"], Ytr[150:170])
    np.testing.assert_array_equal(data["y_test"], Yte[:25])
    np.testing.assert_allclose(data["X_train"].mean(axis=0), 0.0, atol=1e-9)

    raw = datasets.get_CIFAR10_data(
        150, 20, 25, subtract_mean=False, data_dir=cifar_root, dtype=np.float32
    )
    assert raw["X_train"].dtype == np.float32
    np.testing.assert_array_equal(raw["X_test"], Xte[:25].transpose(0, 3, 1, 2))


def test_get_cifar10_data_uses_env_var(cifar_root, monkeypatch):
    monkeypatch.setenv("INTRO2AI_DATA_DIR", str(cifar_root))
    data = data_utils.get_CIFAR10_data(num_training=10, num_validation=5, num_test=5)
    assert data["X_train"].shape == (10, 3, 32, 32)


def test_get_cifar10_data_too_many_requested(cifar_root):
    with pytest.raises(ValueError, match="only 200 training images"):
        datasets.get_CIFAR10_data(data_dir=cifar_root)  # default 49000 + 1000


def test_cifar10_missing_names_dir_file_and_command(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        datasets.get_CIFAR10_data(data_dir=tmp_path)
    msg = str(info.value)
    assert str(tmp_path / "cifar-10-batches-py") in msg
    assert "data_batch_1" in msg
    assert "python -m intro2ai.datasets download cifar10" in msg
    assert "해결" in msg  # Korean half


def test_cifar10_damaged_batch(cifar_root):
    path = cifar_root / "cifar-10-batches-py" / "data_batch_2"
    path.write_bytes(path.read_bytes()[:500])  # truncated
    with pytest.raises(ValueError) as info:
        datasets.load_CIFAR10(cifar_root)
    msg = str(info.value)
    assert "data_batch_2" in msg and "damaged" in msg and "손상" in msg
    assert "download cifar10" in msg


def test_cifar10_refuses_code_in_pickle(cifar_root):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = cifar_root / "cifar-10-batches-py" / "data_batch_1"
    with open(path, "wb") as fh:
        pickle.dump({b"data": Evil(), b"labels": []}, fh, protocol=2)
    with pytest.raises(ValueError, match=r"refusing to load \w+\.print"):
        datasets.load_CIFAR10(cifar_root)


def test_cifar10_accepts_str_keys(tmp_path):
    """Pickles read with encoding='latin1' from Python 2 have str keys."""
    folder = synthetic.write_cifar10(tmp_path, n_per_batch=3, n_test=3)
    with open(folder / "test_batch", "rb") as fh:
        d = pickle.load(fh, encoding="bytes")
    with open(folder / "test_batch", "wb") as fh:
        pickle.dump({"data": d[b"data"], "labels": d[b"labels"]}, fh, protocol=2)
    _, _, Xte, Yte = datasets.load_CIFAR10(folder)
    assert Xte.shape == (3, 32, 32, 3) and list(Yte) == d[b"labels"]


def _py2_str(b: bytes) -> bytes:
    """Pickle opcodes of a Python 2 ``str`` (SHORT_BINSTRING / BINSTRING)."""
    return (b"U" + bytes([len(b)]) + b) if len(b) < 256 else (b"T" + struct.pack("<I", len(b)) + b)


def _py2_int(n: int) -> bytes:
    return b"K" + bytes([n]) if 0 <= n < 256 else b"J" + struct.pack("<i", n)


def _py2_batch(data: np.ndarray, labels) -> bytes:
    """A batch pickled the way Python 2 + NumPy 1 wrote the real CIFAR-10 files (protocol 2)."""
    s, i = _py2_str, _py2_int
    array = (
        b"cnumpy.core.multiarray\n_reconstruct\n"
        + b"cnumpy\nndarray\n"
        + i(0)
        + b"\x85"
        + s(b"b")
        + b"\x87R"  # _reconstruct(ndarray, (0,), 'b')
        + b"("
        + i(1)
        + i(data.shape[0])
        + i(data.shape[1])
        + b"\x86"  # version, shape
        + b"cnumpy\ndtype\n"
        + s(b"u1")
        + i(0)
        + i(1)
        + b"\x87R"
        + b"("
        + i(3)
        + s(b"|")
        + b"NNN"
        + i(-1)
        + i(-1)
        + i(0)
        + b"tb"  # dtype state
        + b"\x89"
        + s(data.tobytes())
        + b"tb"  # not Fortran, raw bytes as a py2 str; BUILD
    )
    label_list = b"](" + b"".join(i(int(v)) for v in labels) + b"e"
    return (
        b"\x80\x02}("
        + s(b"batch_label")
        + s(b"testing batch 1 of 1")
        + s(b"data")
        + array
        + s(b"labels")
        + label_list
        + b"u."
    )


def test_cifar10_reads_python2_pickles(cifar_root):
    """The real batches are Python 2 pickles: str keys, array bytes as a py2 str."""
    data = np.random.default_rng(5).integers(0, 256, (6, 3072), dtype=np.uint8)
    labels = [0, 9, 3, 3, 1, 7]
    (cifar_root / "cifar-10-batches-py" / "test_batch").write_bytes(_py2_batch(data, labels))
    _, _, Xte, Yte = datasets.load_CIFAR10(cifar_root)
    assert Yte.tolist() == labels
    np.testing.assert_array_equal(Xte.transpose(0, 3, 1, 2).reshape(6, 3072), data)


def test_cifar10_label_names(cifar_root):
    assert cifar10.load_label_names(cifar_root) == datasets.CIFAR10_CLASSES
    assert len(datasets.CIFAR10_CLASSES) == 10


# ---------------------------------------------------------------- IDX files


def test_idx_roundtrip_and_header(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = idx.write_idx(tmp_path / "x-idx3-ubyte.gz", arr)
    raw = gzip.decompress(path.read_bytes())
    assert struct.unpack(">IIII", raw[:16]) == (2051, 2, 3, 4)
    np.testing.assert_array_equal(idx.read_idx(path, expected_magic=idx.IMAGES_MAGIC), arr)
    f32 = np.linspace(-1, 1, 6, dtype=np.float32)
    np.testing.assert_array_equal(idx.read_idx(idx.write_idx(tmp_path / "f.idx", f32)), f32)


def test_idx_rejects_bad_magic_and_length(tmp_path):
    arr = np.zeros((3, 28, 28), np.uint8)
    path = idx.write_idx(tmp_path / "a.gz", arr)
    with pytest.raises(idx.IDXError, match="expected 2049"):
        idx.read_idx(path, expected_magic=idx.LABELS_MAGIC)
    raw = gzip.decompress(path.read_bytes())
    (tmp_path / "short.gz").write_bytes(gzip.compress(raw[:-5]))
    with pytest.raises(idx.IDXError, match="holds 2347 bytes"):
        idx.read_idx(tmp_path / "short.gz")
    (tmp_path / "junk.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(ValueError, match="cannot decompress"):
        idx.read_idx(tmp_path / "junk.gz")


@settings(max_examples=30, deadline=None)
@given(
    shape=st.lists(st.integers(0, 5), min_size=1, max_size=4),
    dtype=st.sampled_from(["uint8", "int8", "int16", "int32", "float32", "float64"]),
    compress=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_idx_roundtrip_property(tmp_path_factory, shape, dtype, compress, seed):
    arr = (np.random.default_rng(seed).standard_normal(shape) * 100).astype(dtype)
    path = tmp_path_factory.mktemp("idx") / ("a.gz" if compress else "a.idx")
    back = idx.read_idx(idx.write_idx(path, arr))
    assert back.dtype == arr.dtype and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)


def test_load_mnist_reads_gunzipped_files(idx_root):
    folder = idx_root / "mnist"
    expected = datasets.load_mnist(idx_root)
    for name in mnist.IDX_FILES:
        (folder / name[:-3]).write_bytes(gzip.decompress((folder / name).read_bytes()))
        (folder / name).unlink()
    got = datasets.load_mnist(idx_root)
    np.testing.assert_array_equal(got[0][0], expected[0][0])
    np.testing.assert_array_equal(got[1][1], expected[1][1])


def test_write_idx_set_files(idx_root):
    names = sorted(p.name for p in (idx_root / "mnist").iterdir())
    assert names == sorted(mnist.IDX_FILES)
    raw = gzip.decompress((idx_root / "mnist" / "train-labels-idx1-ubyte.gz").read_bytes())
    assert struct.unpack(">II", raw[:8]) == (2049, 50)


def test_load_mnist_default_dlfs_conventions(idx_root):
    (x, y), (xt, yt) = datasets.load_mnist(idx_root)
    assert x.shape == (50, 1, 28, 28) and xt.shape == (20, 1, 28, 28)
    assert x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    assert y.shape == (50,) and y.dtype == np.int64
    assert np.bincount(y, minlength=10).tolist() == [5] * 10


def test_load_mnist_options(idx_root):
    (x, y), _ = datasets.load_mnist(idx_root, normalize=False, flatten=True, one_hot_label=True)
    assert x.shape == (50, 784) and x.dtype == np.uint8
    assert y.shape == (50, 10) and np.all(y.sum(axis=1) == 1)
    (xn, yn), _ = datasets.load_mnist(idx_root)
    np.testing.assert_array_equal(np.argmax(y, axis=1), yn)
    np.testing.assert_allclose(xn.reshape(50, -1), x / 255.0, rtol=1e-6)


def test_load_fashion_mnist_and_folder_argument(idx_root):
    (x, _), (xt, _) = datasets.load_fashion_mnist(idx_root)
    assert x.shape == (30, 1, 28, 28) and xt.shape == (10, 1, 28, 28)
    (x2, _), _ = datasets.load_fashion_mnist(idx_root / "fashion-mnist")  # the folder itself
    np.testing.assert_array_equal(x, x2)
    assert len(datasets.FASHION_MNIST_CLASSES) == 10 and datasets.MNIST_CLASSES[3] == "3"


def test_mnist_missing_message(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        datasets.load_mnist(tmp_path)
    msg = str(info.value)
    assert str(tmp_path / "mnist") in msg and "train-images-idx3-ubyte.gz" in msg
    assert "python -m intro2ai.datasets download mnist" in msg and "없습니다" in msg


def test_mnist_label_count_mismatch(idx_root):
    idx.write_idx(idx_root / "mnist" / "t10k-labels-idx1-ubyte.gz", np.zeros(7, np.uint8))
    with pytest.raises(ValueError, match="20 images .* but 7 labels"):
        datasets.load_mnist(idx_root)


def test_mnist_wrong_file_kind(idx_root):
    images = idx_root / "mnist" / "train-images-idx3-ubyte.gz"
    labels = idx_root / "mnist" / "train-labels-idx1-ubyte.gz"
    images.write_bytes(labels.read_bytes())
    with pytest.raises(ValueError) as info:
        datasets.load_mnist(idx_root)
    assert "train-images-idx3-ubyte.gz" in str(info.value) and "expected 2051" in str(info.value)


# ---------------------------------------------------------------- data directory


def test_data_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("INTRO2AI_DATA_DIR", str(tmp_path / "env"))
    assert _paths.resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert _paths.resolve_data_dir(None) == tmp_path / "env"
    monkeypatch.delenv("INTRO2AI_DATA_DIR")
    default = _paths.resolve_data_dir(None)
    assert default.name == "datasets"
    repo = _paths._repo_root()
    assert default == (repo / "datasets" if repo else default)
    # Not an editable checkout: ./datasets under the working directory.
    monkeypatch.setattr(_paths, "_repo_root", lambda: None)
    monkeypatch.chdir(tmp_path)
    assert _paths.resolve_data_dir(None) == tmp_path / "datasets"


# ---------------------------------------------------------------- learnability


def _nearest_mean_accuracy(x_train, y_train, x_test, y_test):
    x_train = x_train.reshape(len(x_train), -1)
    x_test = x_test.reshape(len(x_test), -1)
    means = np.stack([x_train[y_train == c].mean(axis=0) for c in range(10)])
    d = ((x_test[:, None, :] - means[None]) ** 2).sum(axis=2)
    return float((d.argmin(axis=1) == y_test).mean())


def test_synthetic_sets_are_learnable(tmp_path):
    synthetic.write_cifar10(tmp_path, n_per_batch=40, n_test=100, seed=0)
    data = datasets.get_CIFAR10_data(180, 20, 100, data_dir=tmp_path)
    acc = _nearest_mean_accuracy(data["X_train"], data["y_train"], data["X_test"], data["y_test"])
    assert acc > 0.8, f"synthetic CIFAR-10 nearest-class-mean accuracy {acc:.2f} <= 0.8"
    synthetic.write_idx_set(tmp_path / "mnist", 200, 100, seed=0)
    (x, y), (xt, yt) = datasets.load_mnist(tmp_path)
    acc = _nearest_mean_accuracy(x, y, xt, yt)
    assert acc > 0.8, f"synthetic IDX nearest-class-mean accuracy {acc:.2f} <= 0.8"
