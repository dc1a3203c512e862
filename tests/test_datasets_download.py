"""The downloader end to end, against a loopback HTTP server started by the tests.

The server (http.server in a thread on 127.0.0.1, port 0) serves tiny genuine-format
files; the data-set specs are replaced by specs pinning those files, so the real
code paths (mirrors, .part files, Range resume, checksums, unpacking) all run.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import socket
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from intro2ai import datasets
from intro2ai.datasets import _registry, cli, download, synthetic
from intro2ai.datasets._registry import DatasetSpec, FileSpec

# ------------------------------------------------------------------ loopback server


class _State:
    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut_first: dict[str, int] = {}  # path -> bytes sent before dropping, once
        self.ignore_range = False
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.lock = threading.Lock()


class _Handler(http.server.BaseHTTPRequestHandler):
    state: _State  # set on the subclass per server

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        st = self.state
        rng = self.headers.get("Range")
        with st.lock:
            st.requests.append((self.path, rng))
            body = st.files.get(self.path)
            cut = st.cut_first.pop(self.path, None)
        if body is None:
            self.send_error(404, "not here")
            return
        start = 0
        if rng and not st.ignore_range:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if cut is not None:
            # Send part of the body, then drop the connection like a flaky network.
            self.wfile.write(payload[:cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(payload)


@pytest.fixture
def server():
    state = _State()
    handler = type("Handler", (_Handler,), {"state": state})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


# ------------------------------------------------------------------ fake specs


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _idx_spec(
    tmp_path: Path, name: str = "mnist", seed: int = 0
) -> tuple[DatasetSpec, dict[str, bytes]]:
    src = synthetic.write_idx_set(tmp_path / f"upstream-{name}", n_train=60, n_test=20, seed=seed)
    blobs = {p.name: p.read_bytes() for p in sorted(src.iterdir())}
    real = _registry.get_spec(name)
    files = tuple(FileSpec(f.name, len(blobs[f.name]), _sha(blobs[f.name])) for f in real.files)
    spec = DatasetSpec(
        name=real.name,
        title=real.title,
        folder=real.folder,
        files=files,
        mirrors=(),
        env_mirrors=real.env_mirrors,
    )
    return spec, blobs


def _cifar_spec(tmp_path: Path) -> tuple[DatasetSpec, bytes]:
    folder = synthetic.write_cifar10(tmp_path / "upstream-cifar", n_per_batch=8, n_test=8, seed=4)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    blob = buf.getvalue()
    members = tuple(
        (name, hashlib.md5((folder / name).read_bytes()).hexdigest())
        for name, _ in _registry.CIFAR10.members
    )
    spec = DatasetSpec(
        name="cifar10",
        title="CIFAR-10 test",
        folder="cifar-10-batches-py",
        files=(FileSpec("cifar-10-python.tar.gz", len(blob), _sha(blob)),),
        mirrors=(),
        env_mirrors="INTRO2AI_CIFAR10_MIRRORS",
        archive=True,
        members=members,
    )
    return spec, blob


def _serve(server: _State, prefix: str, blobs: dict[str, bytes]) -> str:
    for fname, blob in blobs.items():
        server.files[f"/{prefix}/{fname}"] = blob
    return f"{server.url}/{prefix}/"


FAST = dict(progress=False, quiet=True, backoff=0.0, timeout=10.0)


# ------------------------------------------------------------------ download


def test_download_success_and_loadable(server, tmp_path):
    spec, blobs = _idx_spec(tmp_path)
    base = _serve(server, "mnist", blobs)
    data = tmp_path / "data"
    folder = download.download(spec, data, [base], **FAST)
    assert folder == data / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(blobs)  # no .part left
    for name, blob in blobs.items():
        assert (folder / name).read_bytes() == blob
    (x, y), (xt, yt) = datasets.load_mnist(data)
    assert x.shape == (60, 1, 28, 28) and xt.shape == (20, 1, 28, 28)

    # A second run verifies and downloads nothing.
    n = len(server.requests)
    download.download(spec, data, [base], **FAST)
    assert len(server.requests) == n


def test_checksum_mismatch_leaves_no_file(server, tmp_path):
    spec, blobs = _idx_spec(tmp_path)
    wrong = FileSpec(spec.files[0].name, spec.files[0].size, "0" * 64)
    base = _serve(server, "m", blobs)
    dest = tmp_path / "data" / "mnist" / wrong.name
    with pytest.raises(download.ChecksumError, match="SHA-256"):
        download.fetch([base + wrong.name], dest, wrong, **FAST)
    assert list(dest.parent.iterdir()) == []  # neither the file nor a .part


def test_wrong_size_from_mirror_leaves_no_file(server, tmp_path):
    spec, blobs = _idx_spec(tmp_path)
    f = spec.files[1]
    server.files["/m/" + f.name] = blobs[f.name] + b"extra bytes"
    dest = tmp_path / "d" / f.name
    with pytest.raises(download.ChecksumError, match="announces"):
        download.fetch([f"{server.url}/m/{f.name}"], dest, f, retries=1, **FAST)
    assert not dest.exists() and not dest.with_name(dest.name + ".part").exists()
    assert len(server.requests) == 1  # refused on the announced size, no retries


def test_connection_cut_mid_file_resumes_with_range(server, tmp_path):
    spec, blobs = _idx_spec(tmp_path)
    f = spec.files[0]  # the training images, the largest file
    base = _serve(server, "m", blobs)
    server.cut_first[f"/m/{f.name}"] = 1000
    dest = tmp_path / "data" / f.name
    download.fetch([base + f.name], dest, f, retries=2, **FAST)
    assert dest.read_bytes() == blobs[f.name]
    ranges = [r for p, r in server.requests if p == f"/m/{f.name}"]
    assert ranges[0] is None and ranges[1] == "bytes=1000-"


def test_resume_of_leftover_part_file(server, tmp_path):
    spec, blobs = _idx_spec(tmp_path)
    f = spec.files[0]
    base = _serve(server, "m", blobs)
    dest = tmp_path / "data" / f.name
    dest.parent.mkdir(parents=True)
    dest.with_name(dest.name + ".part").write_bytes(blobs[f.name][:777])
    download.fetch([base + f.name], dest, f, **FAST)
    assert dest.read_bytes() == blobs[f.name]
    assert server.requests == [(f"/m/{f.name}", "bytes=777-")]


def test_corrupt_part_file_is_redownloaded(server, tmp_path):
    spec, blobs = _idx_spec(tmp_path)
    f = spec.files[0]
    base = _serve(server, "m", blobs)
    dest = tmp_path / "data" / f.name
    dest.parent.mkdir(parents=True)
    dest.with_name(dest.name + ".part").write_bytes(b"\0" * 500)  # wrong bytes
    download.fetch([base + f.name], dest, f, **FAST)
    assert dest.read_bytes() == blobs[f.name]


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    spec, blobs = _idx_spec(tmp_path)
    f = spec.files[0]
    base = _serve(server, "m", blobs)
    server.ignore_range = True
    server.cut_first[f"/m/{f.name}"] = 1500
    dest = tmp_path / "data" / f.name
    download.fetch([base + f.name], dest, f, retries=2, **FAST)
    assert dest.read_bytes() == blobs[f.name]


def test_mirror_fallback_and_unreachable(server, tmp_path):
    spec, blobs = _idx_spec(tmp_path)
    good = _serve(server, "good", blobs)
    folder = download.download(spec, tmp_path / "data", [f"{server.url}/missing/", good], **FAST)
    assert len(list(folder.iterdir())) == 4
    # Nothing listens on port 9 of 127.0.0.1 (discard): every mirror fails.
    f = spec.files[1]
    with pytest.raises(download.DownloadError, match="import"):
        download.fetch(
            ["http://127.0.0.1:9/x/" + f.name], tmp_path / "o" / f.name, f, retries=1, **FAST
        )
    assert not (tmp_path / "o" / f.name).exists()


def test_mirror_environment_variables(monkeypatch):
    monkeypatch.delenv("INTRO2AI_MNIST_MIRRORS", raising=False)
    monkeypatch.delenv("INTRO2AI_MIRROR", raising=False)
    assert download.mirrors_for("mnist")[0] == _registry.MNIST.mirrors[0]
    monkeypatch.setenv("INTRO2AI_MIRROR", "http://campus.example/data")
    assert download.mirrors_for("fashion-mnist") == ["http://campus.example/data/fashion-mnist/"]
    monkeypatch.setenv("INTRO2AI_MNIST_MIRRORS", "http://a.example/mnist, http://b.example/m/")
    assert download.mirrors_for("mnist") == ["http://a.example/mnist/", "http://b.example/m/"]
    assert download.mirrors_for("mnist", ["http://c.example"]) == ["http://c.example/"]


def test_cifar10_archive_download_and_unpack(server, tmp_path):
    spec, blob = _cifar_spec(tmp_path)
    base = _serve(server, "kriz", {"cifar-10-python.tar.gz": blob})
    data = tmp_path / "data"
    folder = download.download(spec, data, [base], **FAST)
    assert folder == data / "cifar-10-batches-py"
    assert not (data / "cifar-10-python.tar.gz").exists()  # archive removed after unpacking
    assert [p.name for p in data.iterdir()] == ["cifar-10-batches-py"]  # no staging left
    d = datasets.get_CIFAR10_data(30, 10, 8, data_dir=data)
    assert d["X_train"].shape == (30, 3, 32, 32)
    assert all(r.ok for r in download.verify(data, [spec]))

    download.download(spec, data, [base], keep_archive=True, force=True, **FAST)
    assert (data / "cifar-10-python.tar.gz").read_bytes() == blob
    rows = download.verify(data, [spec])
    assert len(rows) == 8 and all(r.ok for r in rows)  # the kept archive and 7 files


def test_cli_download_with_env_mirror(server, tmp_path, monkeypatch, capsys):
    spec, blobs = _idx_spec(tmp_path, "fashion-mnist", seed=5)
    monkeypatch.setitem(_registry.DATASETS, "fashion-mnist", spec)
    _serve(server, "campus/fashion-mnist", blobs)
    monkeypatch.setenv("INTRO2AI_MIRROR", f"{server.url}/campus")
    monkeypatch.delenv("INTRO2AI_FASHION_MNIST_MIRRORS", raising=False)
    data = tmp_path / "data"
    assert cli.main(["download", "fashion-mnist", "--data-dir", str(data), "--no-progress"]) == 0
    (x, _), _ = datasets.load_fashion_mnist(data)
    assert x.shape == (60, 1, 28, 28)
    bad = cli.main(
        [
            "download",
            "fashion-mnist",
            "--data-dir",
            str(tmp_path / "e"),
            "--force",
            "--retries",
            "0",
            "--base-url",
            f"{server.url}/nowhere/",
        ]
    )
    assert bad == 1
    assert "HTTP 404" in capsys.readouterr().err


# ------------------------------------------------------------------ import


def test_import_file_under_any_name(tmp_path):
    spec, blobs = _idx_spec(tmp_path)
    usb = tmp_path / "usb"
    usb.mkdir()
    (usb / "labels-copy.gz").write_bytes(blobs["train-labels-idx1-ubyte.gz"])
    data = tmp_path / "data"
    rows = download.import_path(usb / "labels-copy.gz", data, [spec], quiet=True)
    assert rows[0].status == "OK" and rows[0].dataset == "mnist"
    assert (data / "mnist" / "train-labels-idx1-ubyte.gz").read_bytes() == blobs[
        "train-labels-idx1-ubyte.gz"
    ]
    assert not (data / "mnist" / "train-labels-idx1-ubyte.gz.part").exists()


def test_import_folder_and_cifar_archive(tmp_path):
    spec, blobs = _idx_spec(tmp_path)
    cspec, cblob = _cifar_spec(tmp_path)
    usb = tmp_path / "usb"
    usb.mkdir()
    for name, blob in blobs.items():
        (usb / name).write_bytes(blob)
    (usb / "README.txt").write_text("not data")
    (usb / "cifar-10-python.tar.gz").write_bytes(cblob)
    data = tmp_path / "data"
    rows = download.import_path(usb, data, [spec, cspec], quiet=True)
    assert sorted(r.dataset for r in rows) == ["cifar10"] + ["mnist"] * 4
    assert datasets.load_mnist(data)[0][0].shape == (60, 1, 28, 28)
    assert datasets.load_CIFAR10(data)[0].shape == (40, 32, 32, 3)


def test_import_rejects_damaged_and_unknown(tmp_path):
    spec, blobs = _idx_spec(tmp_path)
    usb = tmp_path / "usb"
    usb.mkdir()
    damaged = bytearray(blobs["t10k-images-idx3-ubyte.gz"])
    damaged[100] ^= 0xFF
    (usb / "t10k-images-idx3-ubyte.gz").write_bytes(bytes(damaged))
    (usb / "holiday.jpg").write_bytes(b"\xff\xd8 not data")
    data = tmp_path / "data"
    with pytest.raises(download.ChecksumError, match="not its SHA-256"):
        download.import_path(usb / "t10k-images-idx3-ubyte.gz", data, [spec], quiet=True)
    with pytest.raises(ValueError, match="not one of the published files"):
        download.import_path(usb / "holiday.jpg", data, [spec], quiet=True)
    with pytest.raises(FileNotFoundError):
        download.import_path(usb / "nope.gz", data, [spec], quiet=True)
    assert not (data / "mnist").exists() or list((data / "mnist").iterdir()) == []


def test_import_accepts_recompressed_idx(tmp_path):
    """A distribution's re-gzipped copy (same IDX bytes) is accepted by its content pin."""
    import gzip

    spec, blobs = _idx_spec(tmp_path)
    f = spec.files[1]
    raw = gzip.decompress(blobs[f.name])
    spec = DatasetSpec(
        spec.name,
        spec.title,
        spec.folder,
        (FileSpec(f.name, f.size, f.sha256, hashlib.sha256(raw).hexdigest()),),
        (),
        spec.env_mirrors,
    )
    repacked = tmp_path / f.name
    repacked.write_bytes(gzip.compress(raw, compresslevel=1, mtime=12345))
    assert repacked.read_bytes() != blobs[f.name]
    rows = download.import_path(repacked, tmp_path / "data", [spec], quiet=True)
    assert rows[0].status == "OK (repacked)"


# ------------------------------------------------------------------ verify / list


def test_cli_verify_and_list_output(tmp_path, monkeypatch, capsys):
    spec, blobs = _idx_spec(tmp_path)
    monkeypatch.setitem(_registry.DATASETS, "mnist", spec)
    data = tmp_path / "data"
    (data / "mnist").mkdir(parents=True)
    for name, blob in blobs.items():
        (data / "mnist" / name).write_bytes(blob)

    assert cli.main(["verify", "mnist", "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    assert f"data directory: {data} (--data-dir)" in out
    assert sum(line.endswith("  OK") for line in out.splitlines()) == 4 and "all OK" in out
    assert "mnist/train-images-idx3-ubyte.gz" in out

    assert cli.main(["list", "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "present" in lines["mnist"] and "not downloaded" in lines["cifar10"]
    assert "KiB" in lines["mnist"]

    # Damage one file and leave an interrupted download behind.
    p = data / "mnist" / "t10k-labels-idx1-ubyte.gz"
    p.write_bytes(p.read_bytes()[:-3])
    (data / "mnist" / "train-images-idx3-ubyte.gz.part").write_bytes(b"x")
    assert cli.main(["verify", "--data-dir", str(data)]) == 1
    out = capsys.readouterr().out
    assert "BAD (size" in out and "python -m intro2ai.datasets download mnist" in out
    assert "cifar10" not in out  # only what is present is checked by default
    assert cli.main(["list", "--data-dir", str(data)]) == 0
    assert "1 interrupted download(s) to resume" in capsys.readouterr().out


def test_module_entry_point(tmp_path):
    env = dict(os.environ, INTRO2AI_DATA_DIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "intro2ai.datasets", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"data directory: {tmp_path} (INTRO2AI_DATA_DIR)" in done.stdout
    assert "not downloaded" in done.stdout


def test_cli_usage_errors(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["download", "imagenet"])
    assert info.value.code == 2
    assert "unknown data set 'imagenet'" in capsys.readouterr().err


def test_pins_are_well_formed():
    for spec in _registry.DATASETS.values():
        assert spec.mirrors and spec.env_mirrors.startswith("INTRO2AI_")
        for f in spec.files:
            assert len(f.sha256) == 64 and int(f.sha256, 16) >= 0 and f.size > 0
    assert _registry.find_by_sha256(_registry.CIFAR10.files[0].sha256)[0].name == "cifar10"
    assert np.all([len(md5) == 32 for _, md5 in _registry.CIFAR10.members])
