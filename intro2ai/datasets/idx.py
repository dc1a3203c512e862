"""Reading and writing IDX files (the MNIST / Fashion-MNIST format), gzip + NumPy only.

An IDX file is a big-endian header followed by raw values::

    bytes 0-1   0x0000
    byte  2     type code (0x08 unsigned byte, 0x09 signed byte, 0x0B int16,
                0x0C int32, 0x0D float32, 0x0E float64)
    byte  3     number of dimensions d
    4*d bytes   the size of each dimension (uint32, big-endian)
    then        prod(sizes) values, big-endian, C order

So image files start with the magic number 2051 (0x00000803) and label files
with 2049 (0x00000801).
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["IDXError", "read_idx", "write_idx", "IMAGES_MAGIC", "LABELS_MAGIC"]

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {np.dtype(v).newbyteorder("=").str: k for k, v in _TYPES.items()}


class IDXError(ValueError):
    """An IDX file whose header or length does not match its contents."""


def _open(path: Path):
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


def read_idx(path: str | os.PathLike, expected_magic: int | None = None) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not) into a native-endian array.

    Parameters
    ----------
    path : str or path-like
        The ``.gz`` (or uncompressed) IDX file.
    expected_magic : int, optional
        If given, the 4-byte magic number the file must start with, e.g.
        ``IMAGES_MAGIC`` (2051) or ``LABELS_MAGIC`` (2049).

    Returns
    -------
    ndarray
        Shape as stated in the header, e.g. ``(N, 28, 28)`` uint8 for images and
        ``(N,)`` uint8 for labels.

    Raises
    ------
    IDXError
        (a ``ValueError``) if the magic number, type code or length is wrong or the
        gzip stream is corrupt; the message says what was expected and found.
    """
    path = Path(path)
    try:
        with _open(path) as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise IDXError(f"cannot decompress {path.name}: {exc}") from exc
    if len(raw) < 4:
        raise IDXError(f"{path.name} is only {len(raw)} bytes long; an IDX header needs at least 4")
    zero, code, ndim = struct.unpack(">HBB", raw[:4])
    magic = struct.unpack(">I", raw[:4])[0]
    if zero != 0 or code not in _TYPES:
        raise IDXError(f"{path.name} does not start with an IDX magic number (found 0x{magic:08x})")
    if expected_magic is not None and magic != expected_magic:
        raise IDXError(
            f"{path.name}: magic number {magic} (0x{magic:08x}), expected {expected_magic} "
            f"(0x{expected_magic:08x})"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXError(f"{path.name}: header for {ndim} dimensions is cut short")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = _TYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - header
    if found != expected:
        raise IDXError(
            f"{path.name}: header says shape {shape} ({expected} bytes of data) "
            f"but the file holds {found} bytes"
        )
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed when ``path`` ends in ``.gz``).

    Parameters
    ----------
    path : str or path-like
        Destination.
    array : ndarray
        uint8, int8, int16, int32, float32 or float64 values, any number of dimensions.
    compress : bool, optional
        Force or forbid gzip; by default decided by the ``.gz`` suffix.
    """
    path = Path(path)
    arr = np.asarray(array)
    code = _CODES.get(arr.dtype.newbyteorder("=").str)
    if code is None:
        raise TypeError(f"write_idx: dtype {arr.dtype} has no IDX type code; use uint8")
    header = struct.pack(">HBB", 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    payload = header + np.ascontiguousarray(arr, dtype=_TYPES[code]).tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        # mtime=0 makes the output byte-for-byte reproducible.
        with (
            open(path, "wb") as raw_fh,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw_fh, mtime=0) as fh,
        ):
            fh.write(payload)
    else:
        path.write_bytes(payload)
    return path
