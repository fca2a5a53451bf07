"""Tests of the fetch stage against a local HTTP server, MNIST_DIR folders and a fake OpenML.

Nothing here touches the internet: an autouse fixture refuses every non-loopback connection
and replaces OpenML, and the data are tiny synthetic IDX files with their own checksums.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import http.server
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import sklearn.datasets

from stages import fetch
from stages.common import download, mnist
from stages.common.download import SourceError, openml_to_idx
from stages.common.mnist import encode_idx, load_mnist_split
from stages.common.runner import run_stage
from stages.fetch import FetchError, fetch_mnist
from tests.support import PROJECT, REAL_MNIST
from tests.support.faults import fifo_at

NAMES = list(mnist.CHECKSUMS)

# A loopback server answers within 5 s even on a busy machine; where a mirror is meant to hang,
# each attempt waits out the short timeout instead (that wait is the test's cost).
FAST = {"timeout": 5.0, "retries": 1, "backoff": 0.01}
SHORT_TIMEOUT = {"timeout": 0.5}


def network(hangs: bool) -> dict[str, float]:
    """The download settings of a test whose mirror hangs (or not)."""
    return FAST | SHORT_TIMEOUT if hangs else FAST


def make_files(seed: int, n_train: int, n_test: int) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    return {name: encode_idx(array) for name, array in arrays.items()}


FILES = make_files(seed=0, n_train=6, n_test=4)
CHECKSUMS = {name: hashlib.sha256(data).hexdigest() for name, data in FILES.items()}
GZ = {name: gzip.compress(data, mtime=0) for name, data in FILES.items()}


def flip_one_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0xFF])


# Per-file behaviours of a bad mirror: (name -> list of responses, served in turn, the last repeating).
BAD_MIRRORS = {
    "404": (lambda name: [("status", 404)], "HTTP 404", 4),
    "403": (lambda name: [("status", 403)], "HTTP 403", 4),
    "503 always": (lambda name: [("status", 503)], "HTTP 503 .*gave up after 2 attempts", 2),
    "html content type": (lambda name: [("html", b"\xef\xbb\xbf<html>login</html>")], "HTML page", 4),
    "html body": (lambda name: [("file", b"\n<!DOCTYPE html><p>moved</p>")], "HTML page", 4),
    "cut-short body": (lambda name: [("truncate", GZ[name])], "connection closed after", 2),
    "one flipped byte": (lambda name: [("file", gzip.compress(flip_one_byte(FILES[name])))], "SHA-256", 4),
    "corrupt gzip": (lambda name: [("file", b"\x1f\x8bgarbage" + GZ[name][10:])], "not valid gzip", 4),
    "gzip cut short": (lambda name: [("file", GZ[name][:-12])], "gzip stream is cut short", 4),
    "never answers": (lambda name: [("hang", b"")], "no answer within 0.5 s", 2),
    "connection refused": (None, "connection refused", 0),
}


class Handler(http.server.BaseHTTPRequestHandler):
    """Answers each path with the next configured response; unknown paths get 404."""

    def do_GET(self):
        server = self.server
        with server.lock:
            server.requests.append(self.path)
            responses = server.routes.get(self.path, [("status", 404)])
            kind, body = responses.pop(0) if len(responses) > 1 else responses[0]
        if kind == "hang":
            server.stop.wait(10)
            return
        if kind == "status":
            self.send_response(body)
            body, content_type = b"error\n", "text/plain"
        else:
            self.send_response(200)
            content_type = "text/html; charset=utf-8" if kind == "html" else "application/x-gzip"
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        # "truncate" announces the whole body, sends half, and closes the connection.
        self.wfile.write(body[: len(body) // 2] if kind == "truncate" else body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.routes, httpd.requests, httpd.lock, httpd.stop = {}, [], threading.Lock(), threading.Event()
    httpd.mirror = lambda prefix: f"http://127.0.0.1:{httpd.server_address[1]}/{prefix}/"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield httpd
    httpd.stop.set()
    httpd.shutdown()
    httpd.server_close()


def serve(server, prefix: str, responses_for) -> str:
    """Configure mirror `prefix` to answer each file with responses_for(name); return its URL."""
    for name in NAMES:
        server.routes[f"/{prefix}/{name}.gz"] = responses_for(name)
    return server.mirror(prefix)


def good(name):
    return [("file", GZ[name])]


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


def bad_mirror(server, kind: str) -> str:
    responses_for = BAD_MIRRORS[kind][0]
    return closed_port_url() if responses_for is None else serve(server, "bad", responses_for)


def assert_holds_files(folder: Path, files=FILES):
    assert sorted(p.name for p in folder.iterdir()) == sorted(files)
    for name, data in files.items():
        assert (folder / name).read_bytes() == data, name


def no_openml(*args, **kwargs):
    raise OSError("OpenML disabled in tests")


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    real_create_connection = socket.create_connection

    def loopback_only(address, *args, **kwargs):
        if address[0] not in ("127.0.0.1", "localhost"):
            raise ConnectionRefusedError(f"tests may not contact {address[0]}")
        return real_create_connection(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", loopback_only)
    monkeypatch.setattr(sklearn.datasets, "fetch_openml", no_openml)
    for variable in ("MNIST_DIR", "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(variable, raising=False)


def test_good_mirror_gives_the_decompressed_files(server, tmp_path):
    # Protects: a healthy mirror yields exactly the four verified, decompressed files.
    mirror = serve(server, "good", good)
    sources = fetch_mnist(tmp_path, checksums=CHECKSUMS, mirrors=[mirror], use_openml=False, **FAST)
    assert_holds_files(tmp_path)
    assert sources == {name: f"{mirror}{name}.gz" for name in NAMES}


@pytest.mark.parametrize("kind", BAD_MIRRORS)
def test_bad_mirror_is_skipped_for_the_next(server, tmp_path, kind):
    # Protects: each kind of mirror failure moves on to the next mirror, retrying only transient ones.
    bad, fallback = bad_mirror(server, kind), serve(server, "good", good)
    settings = network(hangs=kind == "never answers")
    sources = fetch_mnist(
        tmp_path, checksums=CHECKSUMS, mirrors=[bad, fallback], use_openml=False, **settings
    )
    assert_holds_files(tmp_path)
    assert set(sources.values()) == {f"{fallback}{name}.gz" for name in NAMES}
    # Transient failures are retried, then the mirror is not asked for the other files.
    assert sum(path.startswith("/bad/") for path in server.requests) == BAD_MIRRORS[kind][2]


@pytest.mark.parametrize("kind", BAD_MIRRORS)
def test_all_sources_failing_explains_each_and_writes_nothing(server, tmp_path, kind):
    # Protects: total failure is one FetchError listing every source and why, with nothing written.
    bad = bad_mirror(server, kind)
    with pytest.raises(FetchError) as caught:
        fetch_mnist(tmp_path, checksums=CHECKSUMS, mirrors=[bad], **network(hangs=kind == "never answers"))
    message = str(caught.value)
    assert f"{bad}train-images-idx3-ubyte.gz: " in message
    assert re.search(BAD_MIRRORS[kind][1], message)
    assert "OpenML mnist_784: OSError: OpenML disabled in tests" in message
    assert "MNIST_DIR=/path/to/folder make repro" in message
    assert list(tmp_path.iterdir()) == []  # not even a temporary file


@pytest.fixture
def backoffs(monkeypatch) -> list[float]:
    """Each backoff the downloader waits (in seconds), recorded instead of slept."""
    waited: list[float] = []
    monkeypatch.setattr(download, "time", SimpleNamespace(sleep=waited.append))
    return waited


@pytest.mark.parametrize(
    "first",
    [
        ("status", 429),
        ("status", 500),
        ("status", 503),
        ("truncate", None),
        pytest.param(("hang", b""), marks=pytest.mark.slow),  # waits out a timeout per attempt
    ],
    ids=["429", "500", "503", "cut-short body", "no answer"],
)
def test_transient_failure_is_retried_on_the_same_mirror(server, tmp_path, first, backoffs):
    # Protects: one 429, 5xx, cut-short body or timeout is retried and then succeeds on the same mirror.
    mirror = serve(server, "flaky", lambda name: [(first[0], first[1] or GZ[name]), ("file", GZ[name])])
    sources = fetch_mnist(
        tmp_path,
        checksums=CHECKSUMS,
        mirrors=[mirror],
        use_openml=False,
        **network(hangs=first[0] == "hang") | {"backoff": 0.05},
    )
    assert backoffs == [0.05] * 4  # each file waited out one backoff before its retry
    assert_holds_files(tmp_path)
    assert set(sources.values()) == {f"{mirror}{name}.gz" for name in NAMES}
    assert len(server.requests) == 8


def test_dead_mirrors_cost_bounded_time(server, tmp_path, backoffs):
    # Protects: refused connections are not retried and a silent server costs retries + 1 timeouts
    # and one backoff, once: the files after the first skip it. (Counted, not timed: ~1 s here.)
    silent = serve(server, "silent", lambda name: [("hang", b"")])
    mirrors = [closed_port_url(), silent, serve(server, "good", good)]
    fetch_mnist(
        tmp_path, checksums=CHECKSUMS, mirrors=mirrors, use_openml=False, timeout=0.5, retries=1, backoff=0.2
    )
    assert sum(path.startswith("/silent/") for path in server.requests) == 2
    assert backoffs == [0.2]
    assert_holds_files(tmp_path)


def test_refused_connection_is_not_retried(server, tmp_path, backoffs):
    # Protects: a refused connection moves on at once, without waiting out any backoff.
    mirrors = [closed_port_url(), serve(server, "good", good)]
    fetch_mnist(
        tmp_path, checksums=CHECKSUMS, mirrors=mirrors, use_openml=False, timeout=5.0, retries=3, backoff=10
    )
    assert backoffs == []
    assert_holds_files(tmp_path)


def test_verified_file_is_kept_and_stale_file_replaced(server, tmp_path):
    # Protects: a file with the right checksum is not downloaded again; a corrupt one is replaced.
    kept, stale = "train-labels-idx1-ubyte", "train-images-idx3-ubyte"
    (tmp_path / kept).write_bytes(FILES[kept])
    (tmp_path / stale).write_bytes(flip_one_byte(FILES[stale]))
    mirror = serve(server, "good", good)
    sources = fetch_mnist(tmp_path, checksums=CHECKSUMS, mirrors=[mirror], use_openml=False, **FAST)
    assert_holds_files(tmp_path)
    assert sources[kept] == "already present"
    assert f"/good/{kept}.gz" not in server.requests and f"/good/{stale}.gz" in server.requests


@pytest.mark.parametrize("form", ["gz", "plain", "mixed"])
def test_mnist_dir_files_are_used_without_network(server, tmp_path, form):
    # Protects: MNIST_DIR accepts NAME.gz or uncompressed NAME and never touches the mirrors.
    local = tmp_path / "by-hand"
    local.mkdir()
    for index, name in enumerate(NAMES):
        compressed = form == "gz" or (form == "mixed" and index % 2)
        (local / f"{name}.gz" if compressed else local / name).write_bytes(
            GZ[name] if compressed else FILES[name]
        )
    out = tmp_path / "raw"
    fetch_mnist(out, local_dir=local, checksums=CHECKSUMS, mirrors=[serve(server, "good", good)], **FAST)
    assert_holds_files(out)
    assert server.requests == []


@pytest.mark.parametrize(
    "problem", ["missing folder", "missing file", "bad checksum", "100 GB file", "fifo", "device", "folder"]
)
def test_mnist_dir_problem_fails_without_falling_back(server, tmp_path, problem):
    # Protects: a broken MNIST_DIR names the folder or file (and both hashes); no fallback to the network.
    local, out = tmp_path / "by-hand", tmp_path / "raw"
    if problem != "missing folder":
        local.mkdir()
        for name in NAMES:
            (local / f"{name}.gz").write_bytes(GZ[name])
    name = "t10k-labels-idx1-ubyte"
    if problem == "missing file":
        (local / f"{name}.gz").unlink()
    if problem == "bad checksum":
        (local / f"{name}.gz").write_bytes(gzip.compress(flip_one_byte(FILES[name])))
    if problem == "100 GB file":  # sparse: refused from its size, before a byte is read
        (local / f"{name}.gz").unlink()
        with open(local / name, "wb") as handle:
            handle.truncate(100 << 30)
    if problem in ("fifo", "device", "folder"):  # named as what they are, not as missing
        (local / f"{name}.gz").unlink()
    if problem == "device":
        (local / f"{name}.gz").symlink_to("/dev/zero")
    if problem == "folder":
        (local / name).mkdir()
    fifo = fifo_at(local / f"{name}.gz") if problem == "fifo" else contextlib.nullcontext()
    with fifo, pytest.raises(FetchError) as caught:
        fetch_mnist(out, local_dir=local, checksums=CHECKSUMS, mirrors=[serve(server, "good", good)], **FAST)
    message = str(caught.value)
    kinds = {"fifo": (f"{name}.gz", "a FIFO (named pipe)"), "device": (f"{name}.gz", "a character device")}
    if problem in (*kinds, "folder"):
        file, kind = kinds.get(problem, (name, "a folder"))
        assert message == (
            f"MNIST_DIR file {local / file}: is {kind}, not a regular file; replace it with the original or "
            "unset MNIST_DIR"
        )
    assert str(local) in message
    if problem == "missing file":
        assert f"neither {name}.gz nor {name}" in message
    if problem == "bad checksum":
        actual = hashlib.sha256(flip_one_byte(FILES[name])).hexdigest()
        assert f"{name}.gz" in message and actual in message and CHECKSUMS[name] in message
    if problem == "100 GB file":
        assert f"is {100 << 30} bytes, more than any MNIST file" in message
    assert not out.exists() and server.requests == []


def _by_hand(folder: Path, name: str, content: bytes) -> Path:
    """An MNIST_DIR folder of the four gzip files, NAME.gz holding `content`."""
    folder.mkdir()
    for other in NAMES:
        (folder / f"{other}.gz").write_bytes(content if other == name else GZ[other])
    return folder


def test_many_gzip_members_are_unpacked_in_linear_work(tmp_path, monkeypatch):
    # 4 MB of empty gzip members took 16 s: each member was handed the whole rest of the file, which
    # zlib then copied. Counted, not timed: zlib is now handed a few times the file's bytes in all.
    name = NAMES[0]
    empty = gzip.compress(b"", mtime=0)
    many = empty * ((4 << 20) // len(empty)) + GZ[name]
    handed: list[int] = []
    real = zlib.decompressobj

    class Counting:
        def __init__(self, **kwargs):
            self.inner = real(**kwargs)

        def decompress(self, data, max_length=0):
            handed.append(len(data))
            return self.inner.decompress(data, max_length)

        def __getattr__(self, name):  # eof, unused_data
            return getattr(self.inner, name)

    monkeypatch.setattr(fetch.zlib, "decompressobj", Counting)
    local = _by_hand(tmp_path / "by-hand", name, many)
    fetch_mnist(tmp_path / "raw", local_dir=local, checksums=CHECKSUMS, mirrors=[], use_openml=False)
    assert_holds_files(tmp_path / "raw")
    assert sum(handed) <= 4 * len(many)


@pytest.mark.parametrize(
    ("after", "problem"),
    [(bytes(4096), None), (b"junk", "not valid gzip"), (b"\x1f\x8b", "gzip stream is cut short")],
    ids=["zero padding", "junk", "a cut member"],
)
def test_bytes_after_the_last_gzip_member_are_zero_padding_or_refused(tmp_path, after, problem):
    # gzip -d accepts trailing zeros (tape blocks); anything else after the last member is damage.
    name = NAMES[0]
    local = _by_hand(tmp_path / "by-hand", name, GZ[name] + after)
    fetching = functools.partial(fetch_mnist, tmp_path / "raw", local_dir=local, checksums=CHECKSUMS)
    if problem is None:
        fetching()
        assert_holds_files(tmp_path / "raw")
    else:
        with pytest.raises(FetchError, match=f"MNIST_DIR file .*{name}.gz: {problem}"):
            fetching()


def test_main_prints_one_summary_line(tmp_path, monkeypatch, capsys):
    # Protects: the command line fetches from MNIST_DIR and reports success in one line.
    local = tmp_path / "by-hand"
    local.mkdir()
    for name in NAMES:
        (local / name).write_bytes(FILES[name])
    monkeypatch.setenv("MNIST_DIR", str(local))
    monkeypatch.setattr(fetch, "fetch_mnist", functools.partial(fetch_mnist, checksums=CHECKSUMS))
    fetch.main([str(tmp_path / "raw")])
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "6 train and 4 t10k images" in out and "4 fetched" in out
    assert_holds_files(tmp_path / "raw")


def test_main_failure_is_one_message_and_exit_status_1(tmp_path, monkeypatch, capsys):
    # Protects: an expected failure exits with status 1 and one message on stderr, no traceback.
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(SystemExit) as caught:
        run_stage(fetch.main, "fetch", [str(tmp_path / "raw")])
    out, err = capsys.readouterr()
    assert caught.value.code == 1 and out == ""
    assert err.startswith("fetch: error: MNIST_DIR=") and "nowhere" in err and "Traceback" not in err


def test_sigterm_exits_143_and_leaves_nothing(server, tmp_path):
    # Protects: SIGTERM during a download ends the stage with status 143, no traceback and no files.
    mirror = serve(server, "silent", lambda name: [("hang", b"")])
    out = tmp_path / "raw"
    script = (
        "import functools, sys; from stages import fetch; "
        "fetch.fetch_mnist = functools.partial("
        "fetch.fetch_mnist, mirrors=[sys.argv[2]], timeout=30, use_openml=False); "
        "from stages.common.runner import run_stage; run_stage(fetch.main, 'fetch', [sys.argv[1]])"
    )
    environment = {key: value for key, value in os.environ.items() if key != "MNIST_DIR"}
    project = PROJECT
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(out), mirror],
        cwd=project,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120  # a hang guard: the first request comes within a second or two
    while not server.requests and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    assert server.requests, "the stage never asked the mirror"
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=10)
    assert process.returncode == 143, err
    assert b"Traceback" not in err and b"terminated" in err
    assert not out.exists() or list(out.iterdir()) == []


@pytest.fixture(scope="module")
def openml_arrays():
    """OpenML-shaped stand-in: 70000 rows of 784 pixels (uint8 to stay small) and string labels."""
    pixels = np.resize(np.arange(251, dtype=np.uint8), (70_000, 784))  # a cheap non-constant pattern
    labels = (np.arange(70_000) % 10).astype(str).astype(object)
    return pixels, labels


def expected_openml_files(pixels, labels) -> dict[str, bytes]:
    """The IDX bytes written out by hand: 60000 training rows first, then 10000 test rows."""
    classes = labels.astype(np.uint8)
    return {
        "train-images-idx3-ubyte": struct.pack(">4B3I", 0, 0, 8, 3, 60000, 28, 28) + pixels[:60000].tobytes(),
        "train-labels-idx1-ubyte": struct.pack(">4BI", 0, 0, 8, 1, 60000) + classes[:60000].tobytes(),
        "t10k-images-idx3-ubyte": struct.pack(">4B3I", 0, 0, 8, 3, 10000, 28, 28) + pixels[60000:].tobytes(),
        "t10k-labels-idx1-ubyte": struct.pack(">4BI", 0, 0, 8, 1, 10000) + classes[60000:].tobytes(),
    }


def fake_openml(pixels, labels):
    def fetch_openml(name, **kwargs):
        assert name == "mnist_784" and kwargs["version"] == 1 and kwargs["as_frame"] is False
        return SimpleNamespace(data=pixels, target=labels)

    return fetch_openml


@pytest.mark.parametrize("tampered", [False, True])
def test_openml_fallback_is_used_only_when_checksums_match(
    server, tmp_path, monkeypatch, openml_arrays, tampered
):
    # Protects: OpenML rebuilds the canonical IDX bytes after the mirrors fail; other bytes are refused.
    pixels, labels = openml_arrays
    expected = expected_openml_files(pixels, labels)
    checksums = {name: hashlib.sha256(data).hexdigest() for name, data in expected.items()}
    if tampered:
        pixels = pixels.copy()
        pixels[123, 456] ^= 1
    monkeypatch.setattr(sklearn.datasets, "fetch_openml", fake_openml(pixels, labels))
    mirrors = [serve(server, "gone", lambda name: [("status", 404)])]
    if not tampered:
        sources = fetch_mnist(tmp_path, checksums=checksums, mirrors=mirrors, **FAST)
        assert set(sources.values()) == {"OpenML mnist_784"}
        assert_holds_files(tmp_path, expected)
        return
    with pytest.raises(FetchError, match=r"OpenML mnist_784 \(train-images-idx3-ubyte\): SHA-256 .* refused"):
        fetch_mnist(tmp_path, checksums=checksums, mirrors=mirrors, **FAST)
    assert not (tmp_path / "train-images-idx3-ubyte").exists()


@pytest.mark.parametrize(
    "pixels, labels, message",
    [
        (np.zeros((100, 784)), np.full(100, "1", dtype=object), r"expected \(70000, 784\)"),
        (np.broadcast_to(0.5, (70000, 784)), np.full(70000, "1", dtype=object), "not whole numbers"),
        (np.broadcast_to(256.0, (70000, 784)), np.full(70000, "1", dtype=object), "outside 0..255"),
        (np.broadcast_to(-1.0, (70000, 784)), np.full(70000, "1", dtype=object), "outside 0..255"),
        (np.broadcast_to(3.0, (70000, 784)), np.full(70000, "x", dtype=object), "labels are not integers"),
        (np.broadcast_to(3.0, (70000, 784)), np.full(70000, "10", dtype=object), "labels fall outside 0..9"),
    ],
)
def test_openml_data_that_is_not_mnist_is_refused(pixels, labels, message):
    # Protects: OpenML data of a wrong shape or with non-whole or out-of-range values is refused, not cast.
    with pytest.raises(SourceError, match=message):
        openml_to_idx(pixels, labels)


@pytest.mark.skipif(not REAL_MNIST.is_dir(), reason=f"real MNIST files not found at {REAL_MNIST}")
def test_real_mnist_from_mnist_dir_matches_the_pinned_checksums(tmp_path, monkeypatch, capsys):
    # Protects: the pinned checksums and the parser match real MNIST, via MNIST_DIR and via OpenML's layout.
    monkeypatch.setenv("MNIST_DIR", str(REAL_MNIST))
    fetch.main([str(tmp_path / "raw")])
    assert "60000 train and 10000 t10k images" in capsys.readouterr().out
    for name, sha in mnist.CHECKSUMS.items():
        assert hashlib.sha256((tmp_path / "raw" / name).read_bytes()).hexdigest() == sha
    (train_images, train_labels), (test_images, test_labels) = (
        load_mnist_split(tmp_path / "raw", split) for split in ("train", "t10k")
    )
    assert train_images.shape == (60000, 28, 28) and test_images.shape == (10000, 28, 28)
    assert train_labels.shape == (60000,) and test_labels.shape == (10000,)
    # OpenML's layout (70000 flat rows, string labels), rebuilt into IDX, must give the pinned bytes.
    pixels = np.concatenate([train_images, test_images]).reshape(70000, 784)
    labels = np.concatenate([train_labels, test_labels]).astype(str).astype(object)
    monkeypatch.setattr(sklearn.datasets, "fetch_openml", fake_openml(pixels, labels))
    sources = fetch_mnist(tmp_path / "openml", mirrors=[], **FAST)
    assert set(sources.values()) == {"OpenML mnist_784"}
