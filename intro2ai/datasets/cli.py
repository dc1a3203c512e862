"""Command line: ``python -m intro2ai.datasets {download,import,verify,list}``.

Examples::

    python -m intro2ai.datasets download cifar10
    python -m intro2ai.datasets download mnist --base-url http://mirror.campus.ac.kr/mnist/
    python -m intro2ai.datasets import /media/usb/cifar-10-python.tar.gz
    python -m intro2ai.datasets verify
    python -m intro2ai.datasets list --data-dir ~/data

Exit status: 0 success, 1 a download/verification failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from intro2ai.datasets import _paths, _registry, download

DATASET_CHOICES = tuple(_registry.DATASETS) + ("all",)


def _human(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(n)


def _data_dir_source(arg: str | None) -> str:
    if arg:
        return "--data-dir"
    if os.environ.get(_paths.ENV_DATA_DIR, "").strip():
        return _paths.ENV_DATA_DIR
    return "default"


def _dataset_arg(value: str) -> str:
    if value.strip().lower() == "all":
        return "all"
    try:
        return _registry.get_spec(value).name
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"unknown data set {value!r} (choose from {', '.join(DATASET_CHOICES)})"
        ) from None


def _names(values: Sequence[str]) -> list[str]:
    if not values or "all" in values:
        return list(_registry.DATASETS)
    return [_registry.get_spec(v).name for v in values]


def _print_rows(rows, root) -> None:
    width = max([len(r.dataset) for r in rows] + [7])
    for r in rows:
        try:
            shown = r.path.relative_to(root)
        except ValueError:
            shown = r.path
        print(f"{r.dataset:<{width}}  {str(shown):<42} {_human(r.size):>10}  {r.status}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m intro2ai.datasets",
        description="Download, import from a local copy, verify and list the course data sets "
        "(CIFAR-10, MNIST, Fashion-MNIST). Data directory: --data-dir, else "
        f"${_paths.ENV_DATA_DIR}, else <repo>/datasets.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir", metavar="DIR", help="data directory (default: %(default)s)", default=None
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("download", parents=[common], help="download and verify data sets")
    p.add_argument(
        "datasets",
        nargs="+",
        type=_dataset_arg,
        metavar="DATASET",
        help=f"one or more of: {', '.join(DATASET_CHOICES)}",
    )
    p.add_argument(
        "--base-url",
        action="append",
        metavar="URL",
        help="mirror folder holding the upstream file names; repeat to try several "
        "in order (replaces the built-in mirrors; also INTRO2AI_<DATASET>_MIRRORS "
        f"or {download.ENV_MIRROR}=URL with one sub-folder per data set)",
    )
    p.add_argument("--retries", type=int, default=4, help="retries per mirror (default 4)")
    p.add_argument("--timeout", type=float, default=30.0, help="socket timeout in seconds")
    p.add_argument(
        "--keep-archive", action="store_true", help="keep cifar-10-python.tar.gz after unpacking it"
    )
    p.add_argument("--force", action="store_true", help="download again even if verified")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser(
        "import",
        parents=[common],
        help="import files copied by hand (USB stick, campus share), verified by SHA-256",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="a data file, or a folder of them")

    p = sub.add_parser("verify", parents=[common], help="check every file against its checksum")
    p.add_argument(
        "datasets",
        nargs="*",
        type=_dataset_arg,
        metavar="DATASET",
        help="data sets to check (default: all)",
    )

    sub.add_parser("list", parents=[common], help="show what is present and its size (no hashing)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    root = _paths.resolve_data_dir(args.data_dir)
    try:
        if args.command == "download":
            for name in _names(args.datasets):
                download.download(
                    name,
                    root,
                    args.base_url,
                    retries=args.retries,
                    timeout=args.timeout,
                    progress=not args.no_progress and sys.stderr.isatty(),
                    keep_archive=args.keep_archive,
                    force=args.force,
                )
            return 0
        if args.command == "import":
            rows = []
            for path in args.paths:
                rows += download.import_path(path, root)
            _print_rows(rows, root)
            return 0
        if args.command == "verify":
            print(f"data directory: {root} ({_data_dir_source(args.data_dir)})")
            if args.datasets:
                names = _names(args.datasets)
            else:  # everything that is at least partly there
                names = [r.dataset for r in download.list_status(root) if r.size is not None]
                if not names:
                    print(
                        "no data set found; download one with: "
                        + _paths.fix_command("cifar10", root).replace("cifar10", "DATASET")
                    )
                    print("데이터셋이 없습니다. 먼저 download 명령으로 받으세요.")
                    return 1
            rows = download.verify(root, names)
            _print_rows(rows, root)
            bad = [r for r in rows if not r.ok]
            if bad:
                sets = sorted({r.dataset for r in bad})
                print(
                    f"{len(bad)} file(s) missing or damaged; fix with: "
                    + " ; ".join(_paths.fix_command(s, root) for s in sets)
                )
                print(f"파일 {len(bad)}개가 없거나 손상되었습니다. 위 명령으로 다시 받으세요.")
                return 1
            print("all OK / 모두 정상")
            return 0
        if args.command == "list":
            print(f"data directory: {root} ({_data_dir_source(args.data_dir)})")
            rows = download.list_status(root)
            width = max(len(r.dataset) for r in rows)
            for r in rows:
                spec = _registry.get_spec(r.dataset)
                print(
                    f"{r.dataset:<{width}}  {spec.folder + '/':<22} {_human(r.size):>10}  {r.status}"
                    f"  (download {_human(spec.total_size)})"
                )
            return 0
    except (download.ChecksumError, download.DownloadError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "interrupted; run the same command again to resume / 중단됨: 같은 명령으로 이어받기",
            file=sys.stderr,
        )
        return 130
    parser.error(f"unknown command {args.command}")
    return 2
