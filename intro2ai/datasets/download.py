"""Download, import and verify the data sets (the engine behind ``python -m intro2ai.datasets``).

Guarantees:

* Every file is checked against its pinned size and SHA-256
  (:mod:`intro2ai.datasets._registry`) before it gets its final name.
* Bytes arrive in ``<name>.part`` in the destination folder; only a complete,
  verified file is renamed (``os.replace``, atomic on one file system) to
  ``<name>``. A checksum mismatch deletes the ``.part``; a network failure keeps it
  so the next attempt resumes with an HTTP ``Range`` request.
* Network errors are retried with exponential backoff, then the next mirror is
  tried.
* CIFAR-10 is unpacked into a temporary folder beside ``cifar-10-batches-py`` and
  renamed into place when complete (tar members are extracted with the ``data``
  filter: no absolute paths, links or ``..``).

The standard library's ``urllib`` does the HTTP (no extra dependency: ranges,
redirects and proxies from ``HTTP(S)_PROXY`` are all it needs); ``tqdm`` draws
the progress bar.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm  # plain text bar: works in terminals and notebooks alike

from intro2ai.datasets import _paths, _registry
from intro2ai.datasets._registry import DatasetSpec, FileSpec

__all__ = [
    "ChecksumError",
    "DownloadError",
    "ENV_MIRROR",
    "Row",
    "check_file",
    "download",
    "fetch",
    "import_path",
    "list_status",
    "mirrors_for",
    "sha256_of",
    "verify",
]

ENV_MIRROR = "INTRO2AI_MIRROR"
USER_AGENT = "intro2ai-datasets/0.1 (+https://github.com/; course homework kit)"
CHUNK = 1 << 16
PART_SUFFIX = ".part"


class ChecksumError(ValueError):
    """A file's size or SHA-256 differs from the pinned value."""


class DownloadError(RuntimeError):
    """No mirror delivered the file (network errors after all retries)."""


@dataclass
class Row:
    """One line of ``verify`` / ``list`` / ``import`` output."""

    dataset: str
    path: Path
    size: int | None
    status: str

    @property
    def ok(self) -> bool:
        return self.status.startswith("OK")


def _log(msg: str, quiet: bool = False) -> None:
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


def _as_spec(spec: DatasetSpec | str) -> DatasetSpec:
    return spec if isinstance(spec, DatasetSpec) else _registry.get_spec(spec)


# ------------------------------------------------------------------ checksums


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _md5_of(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _content_sha256(path: Path) -> str | None:
    """SHA-256 of the decompressed bytes of a gzip file (None if not gzip / corrupt)."""
    h = hashlib.sha256()
    try:
        with gzip.open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except (OSError, EOFError, zlib.error):
        return None
    return h.hexdigest()


def check_file(path: str | os.PathLike, fspec: FileSpec) -> str:
    """Status of one file against its pin.

    Returns
    -------
    str
        ``"MISSING"``, ``"OK"``, ``"OK (repacked)"`` (different gzip wrapper, same
        decompressed IDX bytes), ``"BAD (size N, expected M)"`` or ``"BAD (checksum)"``.
    """
    path = Path(path)
    if not path.is_file():
        return "MISSING"
    size = path.stat().st_size
    if size == fspec.size and sha256_of(path) == fspec.sha256:
        return "OK"
    if fspec.content_sha256 and _content_sha256(path) == fspec.content_sha256:
        return "OK (repacked)"
    if size != fspec.size:
        return f"BAD (size {size}, expected {fspec.size})"
    return "BAD (checksum)"


def _verify_or_raise(path: Path, fspec: FileSpec, source: str) -> None:
    size = path.stat().st_size
    if size != fspec.size:
        raise ChecksumError(
            f"{fspec.name} from {source}: size {size} bytes, expected {fspec.size}; file removed\n"
            f"{fspec.name} ({source}): 크기가 {size} 바이트로 기대값 {fspec.size} 와 다릅니다. "
            f"파일을 지웠습니다."
        )
    digest = sha256_of(path)
    if digest != fspec.sha256:
        raise ChecksumError(
            f"{fspec.name} from {source}: SHA-256 {digest}, expected {fspec.sha256}; file removed "
            f"(a wrong or tampered mirror, or a corrupted copy)\n"
            f"{fspec.name} ({source}): SHA-256 이 기대값과 다릅니다 (잘못된 mirror 또는 손상된 "
            f"파일). 파일을 지웠습니다."
        )


# ------------------------------------------------------------------ mirrors


def _split_urls(text: str) -> list[str]:
    return [u for u in text.replace(",", " ").split() if u]


def mirrors_for(spec: DatasetSpec | str, base_urls: Sequence[str] | None = None) -> list[str]:
    """Base URLs to try for ``spec``, in order.

    ``base_urls`` (``--base-url``) wins; else the data set's own environment variable
    (``INTRO2AI_MNIST_MIRRORS`` etc., several URLs separated by spaces or commas);
    else ``INTRO2AI_MIRROR`` (a campus mirror with one sub-folder per data set:
    ``<URL>/<dataset>/<file>``); else the built-in list. An override replaces the
    built-in list.
    """
    spec = _as_spec(spec)
    if base_urls:
        urls = list(base_urls)
    elif os.environ.get(spec.env_mirrors, "").strip():
        urls = _split_urls(os.environ[spec.env_mirrors])
    elif os.environ.get(ENV_MIRROR, "").strip():
        urls = [u.rstrip("/") + "/" + spec.name for u in _split_urls(os.environ[ENV_MIRROR])]
    else:
        urls = list(spec.mirrors)
    return [u if u.endswith("/") else u + "/" for u in urls]


# ------------------------------------------------------------------ one file


class _Retryable(Exception):
    pass


class _WrongFile(Exception):
    """The server announces a size that is not the pinned one (an error page, another file)."""


def _transfer(url: str, part: Path, fspec: FileSpec, timeout: float, progress: bool) -> None:
    """One HTTP attempt, appending to ``part`` (resuming if it has bytes)."""
    have = part.stat().st_size if part.exists() else 0
    if have > fspec.size:
        part.unlink()
        have = 0
    if have == fspec.size:
        return
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # our range starts past the end: start again
            part.unlink()
            raise _Retryable(f"HTTP 416 for a resume at byte {have}") from exc
        if exc.code in (408, 425, 429) or exc.code >= 500:
            raise _Retryable(f"HTTP {exc.code}") from exc
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise _Retryable(str(getattr(exc, "reason", exc))) from exc

    with response:
        mode = "ab"
        if have and response.status == 206:
            content_range = response.headers.get("Content-Range", "")
            total = content_range.rpartition("/")[2]
            if total.isdigit() and int(total) != fspec.size:
                raise _WrongFile(f"server announces {total} bytes, expected {fspec.size}")
            if not content_range.startswith(f"bytes {have}-"):
                part.unlink()  # cannot trust what the server sends: start again
                raise _Retryable(f"unexpected Content-Range {content_range!r}")
        elif response.status != 200 and response.status != 206:
            raise _Retryable(f"HTTP {response.status}")
        else:
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) != fspec.size:
                raise _WrongFile(f"server announces {length} bytes, expected {fspec.size}")
            have, mode = 0, "wb"  # a full body (the server may have ignored our Range)
        with (
            open(part, mode) as out,
            tqdm(
                total=fspec.size,
                initial=have,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=fspec.name,
                disable=not progress,
                leave=False,
            ) as bar,
        ):
            try:
                while True:
                    block = response.read(CHUNK)
                    if not block:
                        break
                    out.write(block)
                    bar.update(len(block))
            except (OSError, http.client.HTTPException) as exc:
                raise _Retryable(f"connection lost ({type(exc).__name__})") from exc
    got = part.stat().st_size
    if got < fspec.size:
        raise _Retryable(f"connection closed after {got} of {fspec.size} bytes")


def fetch(
    urls: Sequence[str],
    dest: str | os.PathLike,
    fspec: FileSpec,
    *,
    retries: int = 4,
    backoff: float = 1.0,
    timeout: float = 30.0,
    progress: bool = True,
    quiet: bool = False,
) -> Path:
    """Download ``fspec`` to ``dest`` from the first of ``urls`` that works.

    Parameters
    ----------
    urls : sequence of str
        Full URLs of the file (one per mirror), tried in order.
    dest : path-like
        Final path. Bytes go to ``dest + '.part'`` first.
    retries : int
        Extra attempts per mirror after a network error (each resumes the ``.part``).
    backoff : float
        Seconds before the first retry, doubled after each failure.

    Raises
    ------
    ChecksumError
        Every mirror that answered delivered wrong bytes (no file is left behind).
    DownloadError
        No mirror could be reached. The ``.part`` is kept for a later resume.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + PART_SUFFIX)
    errors: list[str] = []
    checksum_error: ChecksumError | None = None
    for url in urls:
        fresh_retry_done = False
        attempt = 0
        while True:
            resumed = part.exists() and part.stat().st_size > 0
            try:
                if resumed:
                    _log(f"  resuming {dest.name} at byte {part.stat().st_size} from {url}", quiet)
                else:
                    _log(f"  {url}", quiet)
                _transfer(url, part, fspec, timeout, progress)
            except _Retryable as exc:
                attempt += 1
                if attempt > retries:
                    errors.append(f"{url}: {exc}")
                    break
                delay = backoff * 2 ** (attempt - 1)
                _log(f"  {exc}; retry {attempt}/{retries} in {delay:g} s", quiet)
                time.sleep(delay)
                continue
            except DownloadError as exc:
                errors.append(str(exc))
                break
            except _WrongFile as exc:
                part.unlink(missing_ok=True)
                checksum_error = ChecksumError(
                    f"{fspec.name} from {url}: {exc} (not the published file); nothing kept\n"
                    f"{fspec.name} ({url}): 서버가 보낸 파일의 크기가 다릅니다 (다른 파일이거나 "
                    f"오류 페이지). 아무것도 저장하지 않았습니다."
                )
                errors.append(f"{url}: {exc}")
                break
            try:
                _verify_or_raise(part, fspec, url)
            except ChecksumError as exc:
                part.unlink(missing_ok=True)
                if resumed and not fresh_retry_done:
                    fresh_retry_done = True  # the old .part may be what was wrong
                    _log("  checksum mismatch after a resume; downloading from the start", quiet)
                    continue
                checksum_error = exc
                errors.append(str(exc).splitlines()[0])
                break
            os.replace(part, dest)
            return dest
    if checksum_error is not None and not part.exists():
        raise ChecksumError(
            str(checksum_error) + "\n  tried: " + "; ".join(errors)
        ) from checksum_error
    raise DownloadError(
        f"could not download {fspec.name} into {dest.parent}:\n  "
        + "\n  ".join(errors)
        + "\n  Behind a firewall? Use a mirror (--base-url URL or the environment variable "
        f"{ENV_MIRROR}) or copy the file and run `python -m intro2ai.datasets import FILE`."
        f"\n{fspec.name} 을(를) 내려받지 못했습니다. 방화벽이 있다면 --base-url 로 학교 mirror 를 "
        f"지정하거나, 파일을 USB 등으로 복사한 뒤 `python -m intro2ai.datasets import FILE` 을 "
        f"실행하세요."
    )


# ------------------------------------------------------------------ CIFAR-10 archive


def _members_ok(folder: Path, spec: DatasetSpec) -> bool:
    return all(
        (folder / name).is_file() and _md5_of(folder / name) == md5 for name, md5 in spec.members
    )


def extract_archive(
    archive: str | os.PathLike, data_dir: str | os.PathLike, spec: DatasetSpec | str = "cifar10"
) -> Path:
    """Unpack a verified CIFAR-10 archive into ``data_dir/<spec.folder>`` atomically."""
    spec = _as_spec(spec)
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / spec.folder
    staging = Path(tempfile.mkdtemp(prefix=f".{spec.folder}-unpack-", dir=data_dir))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = [m for m in tar.getmembers() if m.name.split("/")[0] == spec.folder]
            extract = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(staging, members=members, **extract)
        unpacked = staging / spec.folder
        missing = [name for name, _ in spec.members if not (unpacked / name).is_file()]
        if missing:
            raise ChecksumError(f"{Path(archive).name} lacks {', '.join(missing)}")
        old = None
        if target.exists():
            old = data_dir / f".{spec.folder}-old-{os.getpid()}"
            os.replace(target, old)
        os.replace(unpacked, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


# ------------------------------------------------------------------ data sets


def download(
    spec: DatasetSpec | str,
    data_dir: str | os.PathLike | None = None,
    base_urls: Sequence[str] | None = None,
    *,
    retries: int = 4,
    backoff: float = 1.0,
    timeout: float = 30.0,
    progress: bool = True,
    keep_archive: bool = False,
    force: bool = False,
    quiet: bool = False,
) -> Path:
    """Download one data set into the data directory and return its folder.

    Files already present and verified are skipped (unless ``force``). CIFAR-10's
    archive is unpacked into ``cifar-10-batches-py/`` and deleted unless
    ``keep_archive``.
    """
    spec = _as_spec(spec)
    root = _paths.resolve_data_dir(data_dir)
    folder = root / spec.folder
    bases = mirrors_for(spec, base_urls)
    _log(f"{spec.title} -> {folder}", quiet)
    if spec.archive:
        if not force and folder.is_dir() and _members_ok(folder, spec):
            _log(f"  already present and verified: {folder}", quiet)
            return folder
        for fspec in spec.files:
            archive = root / fspec.name
            if force or check_file(archive, fspec) != "OK":
                fetch(
                    [b + fspec.name for b in bases],
                    archive,
                    fspec,
                    retries=retries,
                    backoff=backoff,
                    timeout=timeout,
                    progress=progress,
                    quiet=quiet,
                )
            _log(f"  unpacking {archive.name}", quiet)
            extract_archive(archive, root, spec)
            if not keep_archive:
                archive.unlink()
        _log(f"  done: {folder}", quiet)
        return folder
    for fspec in spec.files:
        dest = folder / fspec.name
        if not force and check_file(dest, fspec).startswith("OK"):
            _log(f"  already present and verified: {fspec.name}", quiet)
            continue
        fetch(
            [b + fspec.name for b in bases],
            dest,
            fspec,
            retries=retries,
            backoff=backoff,
            timeout=timeout,
            progress=progress,
            quiet=quiet,
        )
    _log(f"  done: {folder}", quiet)
    return folder


def _match(path: Path, specs: Iterable[DatasetSpec]) -> tuple[DatasetSpec, FileSpec, str] | None:
    specs = list(specs)
    size = path.stat().st_size
    digest = sha256_of(path)
    for spec in specs:
        for fspec in spec.files:
            if fspec.size == size and fspec.sha256 == digest:
                return spec, fspec, "OK"
    content = None
    for spec in specs:
        for fspec in spec.files:
            if fspec.content_sha256:
                if content is None:
                    content = _content_sha256(path) or ""
                if content == fspec.content_sha256:
                    return spec, fspec, "OK (repacked)"
    return None


def _copy_verified(src: Path, dest: Path, fspec: FileSpec, status: str) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + PART_SUFFIX)
    shutil.copyfile(src, part)
    if check_file(part, fspec) != status:  # a flaky USB stick reads differently twice
        part.unlink(missing_ok=True)
        raise ChecksumError(f"copy of {src} to {dest} did not verify; try again")
    os.replace(part, dest)


def import_path(
    path: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    specs: Iterable[DatasetSpec] | None = None,
    *,
    quiet: bool = False,
) -> list[Row]:
    """Import data files brought by hand (USB stick, campus share) into the data directory.

    ``path`` is a file (a published archive or IDX ``.gz``, under any name: it is
    recognised by its SHA-256) or a folder of such files. Each file is verified
    exactly like a download, copied under its upstream name via a ``.part`` file
    and renamed into place; the CIFAR-10 archive is unpacked straight from ``path``.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ChecksumError
        A file has a known name but wrong contents.
    ValueError
        ``path`` holds no known data file.
    """
    path = Path(path).expanduser()
    specs = list(specs) if specs is not None else list(_registry.DATASETS.values())
    root = _paths.resolve_data_dir(data_dir)
    if not path.exists():
        raise FileNotFoundError(
            f"import: {path} does not exist\nimport: {path} 이(가) 없습니다. 경로를 확인하세요."
        )
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    known_names = {f.name for s in specs for f in s.files}
    rows: list[Row] = []
    for src in files:
        if src.name.endswith(PART_SUFFIX):
            continue
        found = _match(src, specs)
        if found is None:
            if src.name in known_names:
                raise ChecksumError(
                    f"import: {src} has the name of a published data file but not its SHA-256 "
                    f"(damaged or a different version); it was not copied\n"
                    f"import: {src} 의 이름은 맞지만 SHA-256 이 다릅니다 (손상되었거나 다른 "
                    f"버전). 이 파일은 복사하지 않았습니다."
                )
            if path.is_dir():
                continue  # other files in a folder (README, licence) are ignored
            raise ValueError(
                f"import: {src} is not one of the published files of "
                f"{', '.join(s.name for s in specs)}\n"
                f"import: {src} 은(는) 알려진 데이터셋 파일이 아닙니다."
            )
        spec, fspec, status = found
        if spec.archive:
            target = extract_archive(src, root, spec)
            _log(f"{spec.name}: unpacked {src.name} into {target}", quiet)
            rows.append(Row(spec.name, target, src.stat().st_size, status))
            continue
        dest = root / spec.folder / fspec.name
        _copy_verified(src, dest, fspec, status)
        _log(f"{spec.name}: {src} -> {dest} [{status}]", quiet)
        rows.append(Row(spec.name, dest, dest.stat().st_size, status))
    if not rows:
        raise ValueError(
            f"import: no known data file in {path}\nimport: {path} 에 알려진 데이터 파일이 없습니다."
        )
    return rows


def verify(
    data_dir: str | os.PathLike | None = None, names: Iterable[DatasetSpec | str] | None = None
) -> list[Row]:
    """Check every file of the given data sets (default: all) against its pin.

    IDX files are checked by SHA-256 (or, for re-compressed copies, the SHA-256 of
    their contents); CIFAR-10's unpacked files by the MD5 values published with it.
    """
    root = _paths.resolve_data_dir(data_dir)
    chosen = [_as_spec(n) for n in names] if names else list(_registry.DATASETS.values())
    rows: list[Row] = []
    for spec in chosen:
        folder = root / spec.folder
        if spec.archive:
            for fspec in spec.files:  # a kept archive (--keep-archive) is checked too
                p = root / fspec.name
                if p.is_file():
                    rows.append(Row(spec.name, p, p.stat().st_size, check_file(p, fspec)))
            for name, md5 in spec.members:
                p = folder / name
                if not p.is_file():
                    status = "MISSING"
                else:
                    status = "OK" if _md5_of(p) == md5 else "BAD (checksum)"
                rows.append(Row(spec.name, p, p.stat().st_size if p.is_file() else None, status))
            continue
        for fspec in spec.files:
            p = folder / fspec.name
            status = check_file(p, fspec)
            rows.append(Row(spec.name, p, p.stat().st_size if p.is_file() else None, status))
    return rows


def list_status(data_dir: str | os.PathLike | None = None) -> list[Row]:
    """What is present, without hashing: one row per data set (fast)."""
    root = _paths.resolve_data_dir(data_dir)
    rows: list[Row] = []
    for spec in _registry.DATASETS.values():
        folder = root / spec.folder
        names = [n for n, _ in spec.members] if spec.archive else [f.name for f in spec.files]
        present = [folder / n for n in names if (folder / n).is_file()]
        size = sum(p.stat().st_size for p in present)
        parts = list(folder.glob("*" + PART_SUFFIX)) + list(
            root.glob(f"{spec.files[0].name}{PART_SUFFIX}")
        )
        if len(present) == len(names):
            status = "present"
        elif present:
            status = f"incomplete ({len(present)}/{len(names)} files)"
        else:
            status = "not downloaded"
        if parts:
            status += f", {len(parts)} interrupted download(s) to resume"
        rows.append(Row(spec.name, folder, size if present else None, status))
    return rows
