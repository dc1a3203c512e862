"""What the MNIST lab notebooks share: their settings, their data and digit deskewing.

* :func:`fast_mode` and :func:`lab_dataset` read the labs' environment variables
  ``INTRO2AI_FAST`` and ``INTRO2AI_LAB_DATASET``.
* :func:`load_lab_data` loads MNIST or Fashion-MNIST from the data directory (see
  :mod:`intro2ai.datasets`) and takes the lab's subset. In FAST MODE, when the data is not
  there, it writes a tiny genuine-format IDX set with
  :func:`intro2ai.datasets.synthetic.write_idx_set` to a temporary folder and loads that; in
  full mode a missing data set is an error that says, in English and Korean, how to get it.
* :func:`deskew` straightens slanted digits (a shear found from the image moments), the
  classic MNIST input normalisation after the size normalisation and centring the data set
  already has.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np

from intro2ai.datasets import _paths, mnist, synthetic

__all__ = [
    "ENV_FAST",
    "ENV_LAB_DATASET",
    "LAB_DATASETS",
    "LabData",
    "fast_mode",
    "lab_dataset",
    "load_lab_data",
    "deskew",
]

ENV_FAST = "INTRO2AI_FAST"
ENV_LAB_DATASET = "INTRO2AI_LAB_DATASET"
LAB_DATASETS: tuple[str, ...] = ("mnist", "fashion-mnist")

# Synthetic set written in FAST MODE when no size is asked for (the labs' FAST MODE sizes).
DEFAULT_SYNTHETIC_TRAIN = 1000
DEFAULT_SYNTHETIC_TEST = 500


class LabData(NamedTuple):
    """The lab's data: arrays as returned by :func:`~intro2ai.datasets.load_mnist`, plus
    the data set's name, ``source`` (``"real"`` or ``"synthetic"``), the class names and the
    folder read."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    dataset: str
    source: str
    classes: tuple[str, ...]
    data_dir: Path | None

    def summary(self) -> str:
        """A few lines for the notebook: where the data came from and the array shapes."""
        lines = []
        if self.source == "synthetic":
            lines.append(
                f"[FAST MODE] {self.dataset} 데이터가 없어 임시 합성(synthetic) 데이터를 "
                f"사용합니다 (정확도는 의미가 없습니다)."
            )
        lines.append(
            f"{self.dataset} ({self.source}): "
            f"x_train {self.x_train.shape} {self.x_train.dtype}, "
            f"y_train {self.y_train.shape} {self.y_train.dtype}"
        )
        lines.append(
            f"{' ' * len(self.dataset)} ({self.source}): "
            f"x_test  {self.x_test.shape} {self.x_test.dtype}, "
            f"y_test  {self.y_test.shape} {self.y_test.dtype}"
        )
        return "\n".join(lines)


def fast_mode(environ: Mapping[str, str] | None = None) -> bool:
    """True when ``INTRO2AI_FAST`` is set to anything but empty or ``0``."""
    env = os.environ if environ is None else environ
    return env.get(ENV_FAST, "").strip() not in ("", "0")


def _check_dataset(who: str, dataset: str) -> str:
    if dataset not in LAB_DATASETS:
        raise ValueError(
            f"{who}: data set must be one of {LAB_DATASETS}, received {dataset!r}; "
            f"set {ENV_LAB_DATASET}=mnist or {ENV_LAB_DATASET}=fashion-mnist.\n"
            f"{who}: 데이터셋은 {LAB_DATASETS} 중 하나여야 하는데 {dataset!r}입니다. "
            f"{ENV_LAB_DATASET}를 mnist 또는 fashion-mnist로 설정하세요."
        )
    return dataset


def lab_dataset(environ: Mapping[str, str] | None = None) -> str:
    """``INTRO2AI_LAB_DATASET`` (default ``"mnist"``), checked to be ``mnist`` or ``fashion-mnist``."""
    env = os.environ if environ is None else environ
    return _check_dataset("lab_dataset", env.get(ENV_LAB_DATASET, "").strip() or "mnist")


def _missing_message(dataset: str, data_dir: Path, cause: str) -> str:
    cmd = _paths.fix_command(dataset, data_dir)
    return (
        f"load_lab_data: the real {dataset} data is needed in full mode but is not in "
        f"{str(data_dir)!r}.\n"
        f"  Fix: run  {cmd}  or point {_paths.ENV_DATA_DIR} at the folder holding "
        f"{dataset}/; or set {ENV_FAST}=1 for FAST MODE on a small synthetic set "
        f"(its accuracies mean nothing).\n"
        f"load_lab_data: 전체 실행(full mode)에는 실제 {dataset} 데이터가 필요한데 "
        f"{str(data_dir)!r} 에 없습니다.\n"
        f"  해결: 터미널에서  {cmd}  를 실행하거나 {_paths.ENV_DATA_DIR}를 {dataset}/ 폴더가 "
        f"있는 디렉터리로 설정하세요. 빠른 확인만 하려면 {ENV_FAST}=1 (FAST MODE, 작은 합성 "
        f"데이터; 정확도는 의미 없음)로 실행하세요.\n"
        f"Details / 자세히:\n{cause}"
    )


def _subset_size(who: str, name: str, n: int | None) -> int | None:
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{who}: {name} must be a positive int or None, received {n!r}")
    return int(n)


def load_lab_data(
    dataset: str = "mnist",
    *,
    fast: bool = False,
    n_train: int | None = None,
    n_test: int | None = None,
    normalize: bool = True,
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
) -> LabData:
    """Load a lab's data set and take its subset (the first ``n_train`` / ``n_test`` images).

    Parameters
    ----------
    dataset : {"mnist", "fashion-mnist"}
        Which data set (see :func:`lab_dataset`).
    fast : bool
        FAST MODE: when the real data is missing, write a synthetic IDX set of ``n_train``
        (default 1,000) training and ``n_test`` (default 500) test images to a temporary
        folder, load it and delete the folder. Full mode (False) raises instead.
    n_train, n_test : int, optional
        Keep only the first ``n_train`` training / ``n_test`` test images (None: all). A data
        set with fewer images is returned whole.
    normalize : bool
        As in :func:`~intro2ai.datasets.load_mnist`: float32 in [0, 1] (True) or uint8 (False).
    data_dir : str or path-like, optional
        The data directory; default ``INTRO2AI_DATA_DIR``, else ``<repo>/datasets``.
    seed : int
        Seed of the synthetic set.

    Returns
    -------
    LabData
        ``x`` of shape (N, 1, 28, 28), ``y`` int64 of shape (N,), ``source`` ``"real"`` or
        ``"synthetic"``, ``classes`` the class names, ``data_dir`` the folder read (None
        for the deleted synthetic folder).

    Raises
    ------
    FileNotFoundError
        Full mode and the data set is missing (English and Korean, with the fix).
    ValueError
        Unknown data set or a subset size that is not a positive int.
    """
    who = "load_lab_data"
    _check_dataset(who, dataset)
    n_train = _subset_size(who, "n_train", n_train)
    n_test = _subset_size(who, "n_test", n_test)
    loader = mnist.load_mnist if dataset == "mnist" else mnist.load_fashion_mnist
    classes = mnist.MNIST_CLASSES if dataset == "mnist" else mnist.FASHION_MNIST_CLASSES
    root = _paths.resolve_data_dir(data_dir)
    try:
        (x_train, y_train), (x_test, y_test) = loader(data_dir=root, normalize=normalize)
        source, read_from = "real", root
    except FileNotFoundError as exc:
        if not fast:
            raise FileNotFoundError(_missing_message(dataset, root, str(exc))) from exc
        with tempfile.TemporaryDirectory(prefix="intro2ai-lab-") as tmp:
            synthetic.write_idx_set(
                Path(tmp) / dataset,
                n_train=n_train or DEFAULT_SYNTHETIC_TRAIN,
                n_test=n_test or DEFAULT_SYNTHETIC_TEST,
                seed=seed,
            )
            (x_train, y_train), (x_test, y_test) = loader(data_dir=tmp, normalize=normalize)
        source, read_from = "synthetic", None
    return LabData(
        x_train[:n_train],
        y_train[:n_train],
        x_test[:n_test],
        y_test[:n_test],
        dataset,
        source,
        classes,
        read_from,
    )


def deskew(images: np.ndarray) -> np.ndarray:
    """Straighten slanted digits: shear each image so its ink has no row-column covariance.

    For an image with ink intensities ``I(r, c)``, centre of mass ``(mr, mc)``, row variance
    ``var_r`` and covariance ``cov_rc``, the slant is ``alpha = cov_rc / var_r`` (columns per
    row). The output pixel ``(r, c)`` is read (bilinear) from the input at
    ``(r', c' + alpha * r')`` with ``(r', c') = (r, c) - centre + (mr, mc)``: the shear
    removes the slant and the centre of mass moves to the image centre. Blank images are
    returned unchanged.

    Parameters
    ----------
    images : float ndarray of shape (N, 1, H, W) or (N, H, W)
        Non-negative intensities (e.g. pixels scaled to [0, 1]).

    Returns
    -------
    ndarray of the same shape and dtype
    """
    from scipy import ndimage  # imported here: loading data needs no scipy

    who = "deskew"
    if not isinstance(images, np.ndarray) or not np.issubdtype(images.dtype, np.floating):
        raise TypeError(
            f"{who}: expected a float ndarray, received "
            f"{getattr(images, 'dtype', type(images).__name__)}; convert with "
            f"x.astype(np.float32) / 255"
        )
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[1] != 1):
        raise ValueError(
            f"{who}: expected shape (N, 1, H, W) or (N, H, W), received {images.shape}"
        )
    flat = images.reshape(-1, images.shape[-2], images.shape[-1]).astype(np.float64)
    H, W = flat.shape[1:]
    rows, cols = np.mgrid[0:H, 0:W].astype(np.float64)
    total = flat.sum(axis=(1, 2))
    safe = np.where(total > 0, total, 1.0)
    mr = (flat * rows).sum(axis=(1, 2)) / safe
    mc = (flat * cols).sum(axis=(1, 2)) / safe
    var_r = (flat * (rows - mr[:, None, None]) ** 2).sum(axis=(1, 2)) / safe
    cov = (flat * (rows - mr[:, None, None]) * (cols - mc[:, None, None])).sum(axis=(1, 2)) / safe
    centre = np.array([(H - 1) / 2.0, (W - 1) / 2.0])
    out = np.empty_like(flat)
    for i, img in enumerate(flat):
        if total[i] <= 0 or var_r[i] <= 0:
            out[i] = img
            continue
        matrix = np.array(
            [[1.0, 0.0], [cov[i] / var_r[i], 1.0]]
        )  # input = matrix @ output + offset
        offset = np.array([mr[i], mc[i]]) - matrix @ centre
        out[i] = ndimage.affine_transform(
            img, matrix, offset=offset, order=1, mode="constant", cval=0.0
        )
    return out.reshape(images.shape).astype(images.dtype, copy=False)
