"""What each data set is made of: file names, sizes, pinned checksums and mirrors.

Every downloadable file is pinned by the SHA-256 of the file exactly as its
publisher distributes it, and by its size in bytes. Sources of the pins
(cross-checked against a second public source each):

* CIFAR-10 python version, ``cifar-10-python.tar.gz``: SHA-256 from Keras'
  ``keras/datasets/cifar10.py`` (``get_file(..., file_hash=...)``); size 170,498,071
  bytes as reported by TensorFlow's CIFAR-10 tutorial; the MD5 values of the
  archive and of the seven extracted files are torchvision's
  (``torchvision/datasets/cifar.py``), which quotes the CIFAR-10 page.
* MNIST: SHA-256 and sizes from tensorflow/datasets
  ``tensorflow_datasets/url_checksums/mnist.txt`` (the CVDF mirror serves the
  same bytes as the original yann.lecun.com files).
* Fashion-MNIST: SHA-256 and sizes from tensorflow/datasets
  ``tensorflow_datasets/url_checksums/fashion_mnist.txt``; the MD5 values are the
  ones Zalando publishes in the Fashion-MNIST README.

IDX files may also be accepted by the SHA-256 of their *decompressed* bytes
(``content_sha256``): Linux distributions re-compress the same IDX data (Debian's
``dataset-fashion-mnist`` drops the gzip FNAME field, so each of its files is
exactly ``len(name) + 1`` bytes shorter than upstream's). Those content pins were
computed from Debian's copies; they let ``verify`` and ``import`` accept such a
repack, and the loaders read it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["FileSpec", "DatasetSpec", "DATASETS", "get_spec", "find_by_sha256"]


@dataclass(frozen=True)
class FileSpec:
    """One file as published upstream.

    Parameters
    ----------
    name : str
        Upstream file name (also the name under the data set's folder).
    size : int
        Size in bytes of the published file.
    sha256 : str
        SHA-256 of the published file.
    content_sha256 : str or None
        SHA-256 of the decompressed bytes (gzip files only), to accept re-compressed
        copies of the same data.
    """

    name: str
    size: int
    sha256: str
    content_sha256: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """A data set: where its files live and how to check them.

    ``folder`` is the sub-folder of the data directory that the loaders read.
    For an archive (CIFAR-10), ``files`` holds the archive, which is unpacked into
    ``folder`` and then deleted; ``members`` lists the unpacked files with their
    MD5 (only an integrity check of the unpacked copy: the archive's SHA-256 is the
    trust anchor).
    """

    name: str
    title: str
    folder: str
    files: tuple[FileSpec, ...]
    mirrors: tuple[str, ...]
    env_mirrors: str
    archive: bool = False
    members: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)


CIFAR10 = DatasetSpec(
    name="cifar10",
    title="CIFAR-10 (python version)",
    folder="cifar-10-batches-py",
    files=(
        FileSpec(
            "cifar-10-python.tar.gz",
            170_498_071,
            "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
        ),
    ),
    mirrors=("https://www.cs.toronto.edu/~kriz/",),
    env_mirrors="INTRO2AI_CIFAR10_MIRRORS",
    archive=True,
    members=(
        ("data_batch_1", "c99cafc152244af753f735de768cd75f"),
        ("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
        ("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
        ("data_batch_4", "634d18415352ddfa80567beed471001a"),
        ("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
        ("test_batch", "40351d587109b95175f43aff81a1287e"),
        ("batches.meta", "5ff9c542aee3614f3951f8cda6e48888"),
    ),
)

MNIST = DatasetSpec(
    name="mnist",
    title="MNIST handwritten digits",
    folder="mnist",
    files=(
        FileSpec(
            "train-images-idx3-ubyte.gz",
            9_912_422,
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        ),
        FileSpec(
            "train-labels-idx1-ubyte.gz",
            28_881,
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        ),
        FileSpec(
            "t10k-images-idx3-ubyte.gz",
            1_648_877,
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        ),
        FileSpec(
            "t10k-labels-idx1-ubyte.gz",
            4_542,
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        ),
    ),
    # yann.lecun.com is often unreachable (it asks for a login since 2023), so the
    # well-known mirrors come first: PyTorch's S3 copy, then Google's CVDF copy.
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    env_mirrors="INTRO2AI_MNIST_MIRRORS",
)

FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    title="Fashion-MNIST (Zalando)",
    folder="fashion-mnist",
    files=(
        FileSpec(
            "train-images-idx3-ubyte.gz",
            26_421_880,
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        ),
        FileSpec(
            "train-labels-idx1-ubyte.gz",
            29_515,
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        ),
        FileSpec(
            "t10k-images-idx3-ubyte.gz",
            4_422_102,
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        ),
        FileSpec(
            "t10k-labels-idx1-ubyte.gz",
            5_148,
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        ),
    ),
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    ),
    env_mirrors="INTRO2AI_FASHION_MNIST_MIRRORS",
)

DATASETS: dict[str, DatasetSpec] = {s.name: s for s in (CIFAR10, MNIST, FASHION_MNIST)}

# Accepted spellings on the command line and in code.
_ALIASES = {
    "cifar10": "cifar10",
    "cifar-10": "cifar10",
    "cifar": "cifar10",
    "mnist": "mnist",
    "fashion-mnist": "fashion-mnist",
    "fashion_mnist": "fashion-mnist",
    "fashionmnist": "fashion-mnist",
    "fashion": "fashion-mnist",
}


def get_spec(name: str) -> DatasetSpec:
    """Return the :class:`DatasetSpec` called ``name`` (case-insensitive, aliases allowed)."""
    key = _ALIASES.get(str(name).strip().lower())
    if key is None:
        raise ValueError(
            f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}\n"
            f"알 수 없는 데이터셋 {name!r}: {', '.join(DATASETS)} 중 하나를 고르세요."
        )
    return DATASETS[key]


def find_by_sha256(digest: str) -> tuple[DatasetSpec, FileSpec] | None:
    """Return the published file whose SHA-256 is ``digest``, if any."""
    for spec in DATASETS.values():
        for f in spec.files:
            if f.sha256 == digest:
                return spec, f
    return None


def find_by_content_sha256(digest: str) -> tuple[DatasetSpec, FileSpec] | None:
    """Return the file whose decompressed bytes hash to ``digest``, if any."""
    for spec in DATASETS.values():
        for f in spec.files:
            if f.content_sha256 is not None and f.content_sha256 == digest:
                return spec, f
    return None
