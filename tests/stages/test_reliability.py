"""Reliability: every bad input and fault ends with one clear message and a non-zero exit, leaves
no partial file at any output path, and keeps earlier outputs (and the DVC cache) as they were.

docs/errors.md lists every case with the test that covers it; cases already tested elsewhere
(params validation, mirrors, IDX parsing, model files) are not repeated here. This file adds the
stage-level and fault-injection cases: damaged params, prepared data and models seen by a stage;
Ctrl-C and SIGTERM sent to real `python -m stages.X` processes; full disks and unwritable folders;
a fuzz of the model loader; and two `dvc repro` at once.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import mlp
from mlp.atomic import atomic_open
from stages import evaluate, prepare, train
from stages.common.mnist import encode_idx, parse_idx
from stages.common.runner import run_stage
from stages.common.runner import transaction as deferred_renames
from stages.report import __main__ as report
from stages.report import charts as figures
from tests.support.synthetic import PROJECT, copy_project, make_workspace, small_params, write_raw
from tests.pipeline.test_dvc_pipeline import sh

TRAIN_ARGS = "tiny data/prepared data/models/tiny.npz reports/history/tiny.csv reports/train/tiny.json"
EVAL_ARGS = (
    "tiny data/prepared data/models/tiny.npz reports/metrics/tiny.json "
    "reports/predictions/tiny.csv reports/classification/tiny.txt"
)
STAGES = {"prepare": prepare, "train": train, "evaluate": evaluate, "report": report}


# ---------------------------------------------------------------- workspace and helpers


def tiny_params(**train_overrides: object) -> dict:
    """small_params with the one architecture `tiny`, so the report stage has all it needs."""
    params = small_params(**train_overrides)
    params["architectures"] = {"tiny": {"hidden_sizes": [16]}}
    return params


def _text(params: dict) -> str:
    return yaml.safe_dump(params, sort_keys=False)


def run_stage_in_process(name: str, args: str) -> None:
    """Run a stage as `python -m stages.NAME ARGS` would, in this process."""
    run_stage(STAGES[name].main, name, args.split())


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A workspace where prepare, train@tiny, evaluate@tiny and report have all run once."""
    root = make_workspace(tmp_path_factory.mktemp("built"), tiny_params())
    with contextlib.chdir(root):
        for name, args in (
            ("prepare", "data/raw data/prepared"),
            ("train", TRAIN_ARGS),
            ("evaluate", EVAL_ARGS),
            ("report", "reports"),
        ):
            run_stage_in_process(name, args)
    shutil.rmtree(root / "logs")  # untracked timing logs; kept out of the snapshots below
    return root


@pytest.fixture
def workspace(built, tmp_path, monkeypatch) -> Path:
    """A private copy of the built workspace, as the current folder.

    Its params (another seed) and model (other weights) differ from those that made its outputs,
    so a rerun that got as far as replacing an output would change its bytes, and snapshots tell.
    """
    root = tmp_path / "workspace"
    shutil.copytree(built, root)
    (root / "params.yaml").write_text(_text(tiny_params(seed=7)))
    mlp.save_model(mlp.MLP([784, 16, 10], np.random.default_rng(7)), root / "data/models/tiny.npz")
    monkeypatch.chdir(root)
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` (but the untracked logs/) and its bytes."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.relative_to(root).parts[0] != "logs"
    }


def temporaries(root: Path) -> list[Path]:
    """Temporary files atomic_open would leave behind if its cleanup failed."""
    return list(root.rglob("*.tmp"))


def failing_stage(name: str, args: str, capsys) -> str:
    """Run a stage that must fail: exit status 1 and exactly one error message, which is returned."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as caught:
        run_stage_in_process(name, args)
    err = capsys.readouterr().err
    assert caught.value.code == 1, err
    assert err.count(f"{name}: error: ") == 1 and "Traceback" not in err, err
    return err[err.index(f"{name}: error: ") :]


UNPICKLED: list[bool] = []


def _record_unpickling() -> str:
    UNPICKLED.append(True)
    return "unpickled"


class Sentinel:
    """An object whose unpickling leaves a trace in UNPICKLED: code from a file must never run."""

    def __reduce__(self):
        return (_record_unpickling, ())


# ---------------------------------------------------------------- cases 1-5: params.yaml


def _set(key: str, value: str):
    """An edit of params.yaml's text: `key: value` on the line of train.KEY (as a user would type it)."""
    return lambda params: re.sub(rf"(?m)^  {key}: .*$", f"  {key}: {value}", _text(params))


def _architecture(entry: dict, name: str = "tiny"):
    """An edit of params.yaml: the one architecture `name` with `entry`."""
    return lambda params: _text({**params, "architectures": {name: entry}})


PARAMS_CASES = {
    "file missing": (lambda p: None, "params.yaml not found; run from the project root"),
    "file empty": (lambda p: "", "must be a mapping with sections prepare, train and architectures"),
    "not a mapping": (lambda p: "- 1\n- 2\n", "must be a mapping with sections"),
    "section missing": (
        lambda p: _text({"prepare": p["prepare"], "architectures": p["architectures"]}),
        "train: missing section",
    ),
    "section not a mapping": (lambda p: _text({**p, "train": 5}), "train: must be a mapping of keys to"),
    "unknown key": (lambda p: _text(p).replace("momentum:", "momentun:"), "did you mean 'momentum'?"),
    "1e-3 read as text": (_set("learning_rate", "1e-3"), "text: write it with a dot and a signed exponent"),
    "quoted number": (_set("epochs", "'3'"), "got '3' (str) (YAML reads '3' as text: remove the quotes)"),
    "float batch size": (_set("batch_size", "16.0"), "train.batch_size: must be an integer, got 16.0"),
    "boolean epochs": (_set("epochs", "yes"), "train.epochs: must be an integer, got True (bool)"),
    "negative learning rate": (_set("learning_rate", "-0.1"), "train.learning_rate: must lie in (0, inf]"),
    "negative momentum": (_set("momentum", "-0.5"), "train.momentum: must lie in [0, 1)"),
    "negative dropout": (_set("dropout", "-0.1"), "train.dropout: must lie in [0, 1)"),
    "zero epochs": (_set("epochs", "0"), "train.epochs: must be at least 1"),
    "negative width": (_architecture({"hidden_sizes": [-4]}), "positive integers only"),
    "width as text": (_architecture({"hidden_sizes": ["128"]}), "positive integers only"),
    "unknown override": (
        _architecture({"hidden_sizes": [8], "activation": "relux"}),
        "architectures.tiny.activation: unknown value 'relux'; choose from",
    ),
    "unsafe name": (_architecture({"hidden_sizes": [8]}, "my net"), "is used in file names"),
}


@pytest.mark.parametrize(("edit", "expected"), PARAMS_CASES.values(), ids=PARAMS_CASES.keys())
def test_bad_params_stop_a_stage_before_it_touches_anything(workspace, capsys, edit, expected):
    # A bad params.yaml ends the stage with exit 1, one message naming the key and the fix; nothing changes.
    text = edit(tiny_params())
    if text is None:
        (workspace / "params.yaml").unlink()
    else:
        (workspace / "params.yaml").write_text(text)
    before = snapshot(workspace)
    message = failing_stage("prepare", "data/raw data/prepared", capsys)
    assert expected in message
    assert snapshot(workspace) == before


# ---------------------------------------------------------------- case 6: IDX files in data/raw


def _damage_raw(raw: Path, kind: str) -> str:
    """Damage one file in data/raw as a bad source or a hand edit could; return the file's name."""
    images, labels = raw / "train-images-idx3-ubyte", raw / "train-labels-idx1-ubyte"
    if kind == "wrong magic":
        images.write_bytes(b"\x1f\x8b" + images.read_bytes()[2:])  # e.g. still gzip-compressed
    elif kind == "dims vs length":
        images.write_bytes(images.read_bytes()[:-100])
    elif kind == "count mismatch":
        labels.write_bytes(encode_idx(parse_idx(labels.read_bytes(), "labels")[:-1]))
    elif kind == "label 10":
        data = bytearray(labels.read_bytes())
        data[-1] = 10
        labels.write_bytes(bytes(data))
    return (labels if kind in ("count mismatch", "label 10") else images).name


RAW_CASES = {
    "wrong magic": "bad magic number 0x1f8b0803; IDX starts with two zero bytes",
    "dims vs length": "header shape (400, 28, 28) needs 313600 data bytes but 313500 follow",
    "count mismatch": "holds 400 images but data/raw/train-labels-idx1-ubyte 399 labels",
    "label 10": "label 10 outside 0..9",
}


@pytest.mark.parametrize(("kind", "expected"), RAW_CASES.items(), ids=RAW_CASES.keys())
def test_damaged_raw_file_stops_prepare_naming_it(workspace, capsys, kind, expected):
    # A malformed IDX file in data/raw stops prepare with one message naming it and the fix; nothing changes.
    # (From a mirror such files fail the SHA-256 check first: tests/test_fetch.py.)
    name = _damage_raw(workspace / "data/raw", kind)
    before = snapshot(workspace)
    message = failing_stage("prepare", "data/raw data/prepared", capsys)
    assert f"data/raw/{name}" in message and expected in message
    assert "delete data/raw and rerun `dvc repro fetch`" in message
    assert snapshot(workspace) == before


# ---------------------------------------------------------------- case 9: prepared arrays


def _damage_split(path: Path, kind: str) -> None:
    """Rewrite the prepared split at `path` with one kind of damage."""
    with np.load(path) as archive:
        X, y = archive["X"].copy(), archive["y"].copy()
    if kind == "missing":
        path.unlink()
        return
    if kind == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        return
    changes = {
        "NaN": lambda: X.__setitem__((0, 0), np.nan),
        "inf": lambda: X.__setitem__((3, 7), -np.inf),
        "float64": lambda: {"X": X.astype(np.float64)},
        "783 features": lambda: {"X": X[:, :783]},
        "1-D X": lambda: {"X": X.ravel()},
        "labels short": lambda: {"y": y[:-1]},
        "label 10": lambda: y.__setitem__(0, 10),
        "int64 labels": lambda: {"y": y.astype(np.int64)},
        "pickled": lambda: {"X": np.array([Sentinel()], dtype=object)},
    }
    arrays = {"X": X, "y": y, **(changes[kind]() or {})}
    np.savez(path, allow_pickle=True, **arrays)


PREPARED_CASES = {
    "NaN": "X contains NaN or inf",
    "inf": "X contains NaN or inf",
    "float64": "X must be a non-empty float32 array of shape (n, 784), got float64",
    "783 features": "got float32 (320, 783)",
    "1-D X": "got float32 (250880,)",
    "labels short": "y must be 320 uint8 labels, got uint8 (319,)",
    "label 10": "y holds label 10, outside 0..9",
    "int64 labels": "y must be 320 uint8 labels, got int64",
    "pickled": "unreadable or corrupt",
    "truncated": "unreadable or corrupt",
    "missing": "is missing",
}


@pytest.mark.parametrize(("kind", "expected"), PREPARED_CASES.items(), ids=PREPARED_CASES.keys())
def test_damaged_prepared_data_is_rejected_before_training(workspace, capsys, kind, expected):
    # Bad prepared arrays stop train before training, naming the file and the fix; earlier outputs kept.
    _damage_split(workspace / "data/prepared/train.npz", kind)
    before = snapshot(workspace)
    UNPICKLED.clear()
    message = failing_stage("train", TRAIN_ARGS, capsys)
    assert "data/prepared/train.npz" in message and expected in message
    assert "rerun `dvc repro prepare`" in message
    assert snapshot(workspace) == before and UNPICKLED == []


# ---------------------------------------------------------------- case 12: model files


def _model_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as archive:
        return {name: archive[name] for name in archive.files}


def _forged_size_member(shape: tuple[int, ...]) -> bytes:
    """A .npy member whose header claims `shape` (float32) but that holds only 64 bytes."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return header.getvalue() + bytes(64)


def _damage_model(path: Path, kind: str) -> None:
    """Rewrite the model file at `path` with one kind of damage or tampering."""
    arrays = _model_arrays(path)
    header = json.loads(arrays["header"].tobytes())
    if kind == "huge declared size":
        with zipfile.ZipFile(path) as archive:
            members = {name: archive.read(name) for name in archive.namelist()}
        members["W0.npy"] = _forged_size_member((2**40,))
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in members.items():
                archive.writestr(name, data)
        return
    if kind == "single .npy":
        with path.open("wb") as handle:
            np.save(handle, arrays["W0"])
        return
    if kind == "pickled":
        arrays["W0"] = np.array([Sentinel(), Sentinel()], dtype=object)
    elif kind == "header sizes changed":
        header["layer_sizes"] = [784, 20, 10]
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    elif kind == "weight shape changed":
        arrays["W0"] = arrays["W0"][:, :15]
    elif kind == "NaN weight":
        arrays["W1"] = arrays["W1"].copy()
        arrays["W1"][2, 3] = np.nan
    np.savez(path, allow_pickle=True, **arrays)


MODEL_CASES = {
    "pickled": "array W0 holds Python objects (a pickle); refused without unpickling",
    "header sizes changed": "array W0 has shape (784, 16) and dtype float32, but the header says (784, 20)",
    "weight shape changed": "array W0 has shape (784, 15)",
    "NaN weight": "array W1 contains NaN or inf weights",
    "huge declared size": "array W0 declares shape (1099511627776,) (4398046511104 bytes) but holds 64",
    "single .npy": "is a single .npy array, not a model archive",
}


@pytest.mark.parametrize(("kind", "expected"), MODEL_CASES.items(), ids=MODEL_CASES.keys())
def test_evaluate_refuses_a_tampered_model_without_running_its_code(workspace, capsys, kind, expected):
    # A tampered model is refused naming it and its rebuild, running none of its code; earlier outputs kept.
    # (Missing, truncated and garbage files: tests/test_stages.py::test_evaluate_refuses_a_damaged_model.)
    _damage_model(workspace / "data/models/tiny.npz", kind)
    before = snapshot(workspace)
    UNPICKLED.clear()
    message = failing_stage("evaluate", EVAL_ARGS, capsys)
    assert message.startswith("evaluate: error: data/models/tiny.npz: ") and expected in message
    assert "rebuild it with `dvc repro --force train@tiny`" in message
    assert snapshot(workspace) == before and UNPICKLED == []


def _mutate(valid: bytes, rng: np.random.Generator) -> bytes:
    """A random truncation, bit flips, overwritten run or insertion of `valid`."""
    data = bytearray(valid)
    action = rng.integers(4)
    if action == 0:
        return bytes(data[: rng.integers(len(data))])
    if action == 1:
        for position in rng.integers(0, len(data), size=rng.integers(1, 4)):
            data[position] ^= 1 << int(rng.integers(8))
    elif action == 2:
        start = int(rng.integers(len(data)))
        data[start : start + 8] = rng.bytes(8)
    else:
        start = int(rng.integers(len(data)))
        data[start:start] = rng.bytes(int(rng.integers(1, 9)))
    return bytes(data)


def test_fuzzed_model_files_only_ever_raise_model_file_error(tmp_path):
    # A randomly damaged model file loads or raises ModelFileError naming it: no other error, never slowly.
    path = tmp_path / "model.npz"
    mlp.save_model(mlp.MLP([6, 5, 3], np.random.default_rng(0)), path, metadata={"architecture": "fuzz"})
    stored = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    deflated = path.read_bytes()
    rng = np.random.default_rng(2024)
    outcomes = {"loaded": 0, "refused": 0}
    for iteration in range(600):
        path.write_bytes(_mutate(stored if iteration % 2 else deflated, rng))
        started = time.monotonic()
        try:
            mlp.load_model(path)
            outcomes["loaded"] += 1
        except mlp.ModelFileError as error:
            assert str(path) in str(error)
            outcomes["refused"] += 1
        assert time.monotonic() - started < 1.0, f"iteration {iteration} took too long"
    assert outcomes["refused"] > 400, outcomes


# ---------------------------------------------------------------- case 11: Ctrl-C and SIGTERM, real processes

# Loaded by every child at start-up (it is first on PYTHONPATH). Ctrl-C is made to raise
# KeyboardInterrupt as in a terminal, even if this test runner was started with SIGINT ignored
# (a background job); RELIABILITY_PAUSE_AT_FSYNC=N pauses after the Nth fsync, i.e. when the
# Nth output is complete in its temporary file but not yet renamed into place.
SITECUSTOMIZE = """
import os, signal, sys, time

signal.signal(signal.SIGINT, signal.default_int_handler)
_pause_at = int(os.environ.get("RELIABILITY_PAUSE_AT_FSYNC", "0"))
if _pause_at:
    _fsync, _calls = os.fsync, []

    def _fsync_then_pause(fd):
        _fsync(fd)
        _calls.append(fd)
        if len(_calls) == _pause_at:
            print("paused before rename", file=sys.stderr, flush=True)
            time.sleep(60)

    os.fsync = _fsync_then_pause
"""


class Child:
    """`python -m stages.NAME ARGS` in `cwd`, its stderr read line by line in the background."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]):
        self.process = subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=cwd,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.err: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.err.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while (line := self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))) is not None:
            if text in line:
                return
        raise AssertionError(f"the stage ended before printing {text!r}:\n{''.join(self.err)}")

    def finish(self, timeout: float = 30) -> tuple[int, str]:
        try:
            self.process.wait(timeout)
        finally:
            self.process.kill()
        assert self.process.stdout is not None
        self.process.stdout.close()
        while self.lines.get(timeout=5) is not None:
            pass
        return self.process.returncode, "".join(self.err)


@pytest.fixture(scope="module")
def child_env(tmp_path_factory) -> dict[str, str]:
    hooks = tmp_path_factory.mktemp("hooks")
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    drop = {"MNIST_DIR", "no_proxy", "NO_PROXY", "RELIABILITY_PAUSE_AT_FSYNC"}
    env = {key: value for key, value in os.environ.items() if key not in drop}
    return env | {"PYTHONPATH": f"{hooks}{os.pathsep}{PROJECT}", "PYTHONDONTWRITEBYTECODE": "1"}


@contextlib.contextmanager
def silent_proxy() -> Iterator[tuple[str, socket.socket]]:
    """A loopback 'proxy' that accepts connections and never answers: every mirror hangs on it."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(30)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", listener


SIGNAL_CASES = [
    # stage, when the signal comes ("writing": every output is complete in its temporary file, none
    # renamed yet; "training": after the first epoch's progress line; "download": waiting for a mirror)
    ("fetch", "download", signal.SIGINT),
    ("train", "training", signal.SIGINT),
    ("train", "training", signal.SIGTERM),
    ("train", "writing", signal.SIGTERM),
    ("evaluate", "writing", signal.SIGINT),
    ("evaluate", "writing", signal.SIGTERM),
]


@pytest.mark.parametrize(
    ("stage", "moment", "signum"),
    SIGNAL_CASES,
    ids=[f"{stage}-{moment}-{signal.Signals(signum).name}" for stage, moment, signum in SIGNAL_CASES],
)
def test_interrupted_stage_exits_128_plus_signal_and_changes_nothing(
    workspace, child_env, stage, moment, signum
):
    # Ctrl-C (130) or SIGTERM (143) leaves no temporary file and every earlier output byte-identical.
    # (SIGTERM during fetch: tests/test_fetch.py::test_sigterm_exits_143_and_leaves_nothing.)
    env = dict(child_env)
    if moment == "training":  # long enough that the signal always lands mid-training
        (workspace / "params.yaml").write_text(_text(tiny_params(seed=7, epochs=100000)))
    if moment == "writing":
        env["RELIABILITY_PAUSE_AT_FSYNC"] = "3"  # both stages write three outputs
    before = snapshot(workspace)
    args = {"fetch": "data/raw", "train": TRAIN_ARGS, "evaluate": EVAL_ARGS}[stage].split()
    with silent_proxy() as (proxy, listener), contextlib.ExitStack() as held:
        if stage == "fetch":
            env |= {"http_proxy": proxy, "https_proxy": proxy}
        child = Child([f"stages.{stage}", *args], workspace, env)
        try:
            if stage == "fetch":
                connection, _ = listener.accept()  # the first mirror request is now waiting
                held.enter_context(connection)  # open and silent until the end
            else:
                child.wait_for("paused before rename" if moment == "writing" else "train@tiny epoch 1/")
            child.process.send_signal(signum)
        finally:
            code, err = child.finish()
    word = "interrupted" if signum == signal.SIGINT else "terminated"
    assert code == 128 + signum, err
    assert f"{stage}: {word}; no partial output was kept" in err and "Traceback" not in err
    assert temporaries(workspace) == []
    assert snapshot(workspace) == before


# ---------------------------------------------------------------- case 13: full disk, unwritable folder


class FillingDisk(io.RawIOBase):
    """A raw file that accepts `room` more bytes, then fails as a full disk does."""

    def __init__(self, raw: io.FileIO, room: int):
        self.raw, self.room = raw, room

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written = self.raw.write(bytes(memoryview(data)[: self.room]))
        self.room -= written
        return written

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def fileno(self) -> int:
        return self.raw.fileno()

    def close(self) -> None:
        self.raw.close()
        super().close()


def fill_disk(monkeypatch, at_file: int, room: int) -> None:
    """Make the disk fill up after `room` bytes of the `at_file`-th file written through atomic_open."""
    real_fdopen, calls = os.fdopen, []

    def fdopen(descriptor: int, mode: str = "r", **kwargs):
        calls.append(descriptor)
        if len(calls) != at_file:
            return real_fdopen(descriptor, mode, **kwargs)
        buffered = io.BufferedWriter(FillingDisk(real_fdopen(descriptor, "wb", buffering=0), room))
        return buffered if "b" in mode else io.TextIOWrapper(buffered, **kwargs)

    monkeypatch.setattr(os, "fdopen", fdopen)


DISK_FULL_CASES = [
    # stage, the file being written when the disk fills (its order among the stage's writes), bytes it got
    ("train", "data/models/tiny.npz", 1, 0),
    ("train", "data/models/tiny.npz", 1, 20000),
    ("train", "reports/train/tiny.json", 3, 10),
    ("evaluate", "reports/metrics/tiny.json", 1, 100),
    ("evaluate", "reports/predictions/tiny.csv", 2, 50),
    ("report", "reports/figures/samples.png", 1, 3000),
    ("report", "reports/figures/weights_tiny.png", 10, 0),
]


@pytest.mark.parametrize(("stage", "target", "at_file", "room"), DISK_FULL_CASES)
def test_full_disk_names_the_file_and_keeps_every_earlier_output(
    workspace, monkeypatch, capsys, stage, target, at_file, room
):
    # A disk filling mid-write is named with the fix; no temporary file, every earlier output unchanged.
    if stage == "report":  # evaluate the workspace's other model first, so the report's inputs agree
        run_stage_in_process("evaluate", EVAL_ARGS)
    before = snapshot(workspace)
    fill_disk(monkeypatch, at_file, room)
    args = {"train": TRAIN_ARGS, "evaluate": EVAL_ARGS, "report": "reports"}[stage]
    message = failing_stage(stage, args, capsys)
    assert f"cannot write {target}: No space left on device; free some disk space" in message
    assert temporaries(workspace) == []
    assert snapshot(workspace) == before


@pytest.fixture
def mount_tmpfs(tmp_path):
    """Mount a small tmpfs (options given) on a folder; skipped where mounting is not allowed."""
    mounted: list[Path] = []

    def mount(folder: Path, options: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if shutil.which("mount") is None or os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root and mount(8)")
        command = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)]
        result = subprocess.run(command, capture_output=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
        mounted.append(folder)

    yield mount
    for folder in mounted:
        if os.path.ismount(folder):
            subprocess.run(["umount", "-l", str(folder)], check=True)


def test_real_full_disk_while_saving_the_model(workspace, capsys, mount_tmpfs):
    # A real full file system (a 32 KiB tmpfs) gives the same message and leaves no temporary file.
    before = snapshot(workspace)
    mount_tmpfs(workspace / "data/models", "size=32k")
    message = failing_stage("train", TRAIN_ARGS, capsys)
    assert "cannot write data/models/tiny.npz: No space left on device; free some disk space" in message
    assert list((workspace / "data/models").iterdir()) == []
    subprocess.run(["umount", str(workspace / "data/models")], check=True)
    assert snapshot(workspace) == before


def _file_in_the_way(workspace: Path, folder: str, mount_tmpfs) -> None:
    (workspace / folder).write_text("a file where a folder should be\n")


def _read_only_mount(workspace: Path, folder: str, mount_tmpfs) -> None:
    mount_tmpfs(workspace / folder, "ro,size=64k")


def _no_permission(workspace: Path, folder: str, mount_tmpfs) -> None:
    if os.geteuid() == 0:
        pytest.skip("root ignores folder permissions (the other two kinds cover root)")
    (workspace / folder).mkdir()
    (workspace / folder).chmod(0o500)


UNWRITABLE_CASES = [
    # stage, the argument to redirect into the unwritable folder, how it is unwritable, expected message
    (
        "train",
        "data/models/tiny.npz",
        _file_in_the_way,
        "cannot write blocked/tiny.npz: File exists; "
        "a file stands where its folder should be; move that file away",
    ),
    (
        "train",
        "data/models/tiny.npz",
        _read_only_mount,
        "cannot write blocked/tiny.npz: Read-only file system; remount it read-write",
    ),
    (
        "train",
        "data/models/tiny.npz",
        _no_permission,
        "cannot write blocked/tiny.npz: Permission denied; make its folder writable",
    ),
    (
        "evaluate",
        "reports/metrics/tiny.json",
        _file_in_the_way,
        "cannot write blocked/tiny.json: File exists; "
        "a file stands where its folder should be; move that file",
    ),
    (
        "evaluate",
        "reports/metrics/tiny.json",
        _read_only_mount,
        "cannot write blocked/tiny.json: Read-only file system; remount it read-write",
    ),
    (
        "evaluate",
        "reports/metrics/tiny.json",
        _no_permission,
        "cannot write blocked/tiny.json: Permission denied; make its folder writable",
    ),
]


@pytest.mark.parametrize(
    ("stage", "output", "make_unwritable", "expected"),
    UNWRITABLE_CASES,
    ids=[f"{c[0]}-{c[2].__name__.strip('_')}" for c in UNWRITABLE_CASES],
)
def test_unwritable_output_folder_is_named_with_the_fix(
    workspace, capsys, mount_tmpfs, stage, output, make_unwritable, expected
):
    # An unwritable output folder ends the stage with one message naming the path and the fix.
    # (Root ignores permissions, so as root the read-only mount stands in for a read-only folder.)
    make_unwritable(workspace, "blocked", mount_tmpfs)
    before = snapshot(workspace)
    args = {"train": TRAIN_ARGS, "evaluate": EVAL_ARGS}[stage]
    message = failing_stage(stage, args.replace(output, f"blocked/{Path(output).name}"), capsys)
    assert expected in message
    assert temporaries(workspace) == []
    assert snapshot(workspace) == before


def test_full_disk_while_drawing_a_figure_keeps_the_old_png(tmp_path, monkeypatch):
    # A PNG cut short by a full disk raises an OSError naming it and keeps the previous PNG.
    target = tmp_path / "curves.png"
    target.write_bytes(b"previous good figure")
    fill_disk(monkeypatch, 1, 500)
    with pytest.raises(OSError, match=f"cannot write {re.escape(str(target))}: No space left on device"):
        with figures.png_figure(target, (3, 2)) as figure:
            figure.subplots().plot([0, 1], [1, 0])
    assert [path.name for path in tmp_path.iterdir()] == ["curves.png"]
    assert target.read_bytes() == b"previous good figure"


# ---------------------------------------------------------------- cases 11 and 13: all outputs or none


@pytest.mark.parametrize("failure", [None, KeyboardInterrupt, OSError], ids=["none", "Ctrl-C", "OSError"])
@pytest.mark.parametrize("after_file", [1, 3])
def test_a_stage_replaces_all_its_outputs_or_none(tmp_path, failure, after_file):
    # A stage replaces all its outputs, or after a failure at any point none (run_stage: all but fetch).
    targets = [tmp_path / f"out{i}.txt" for i in range(1, 4)]
    for target in targets:
        target.write_text("old")
    with contextlib.suppress(KeyboardInterrupt, OSError), deferred_renames():
        for i, target in enumerate(targets, start=1):
            with atomic_open(target, "w") as handle:
                handle.write("new")
            if failure is not None and i == after_file:
                raise failure()
    expected = "new" if failure is None else "old"
    assert [target.read_text() for target in targets] == [expected] * 3
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out1.txt", "out2.txt", "out3.txt"]


def test_sigterm_during_the_final_renames_waits_until_all_are_done(tmp_path, monkeypatch):
    # A signal during the final renames is acted on only once every output is in place, never mid-way.
    targets = [tmp_path / f"out{i}.txt" for i in range(1, 4)]
    seen_by_handler: list[list[str]] = []
    real_replace, replaced = os.replace, []

    def replace_then_signal(source, destination):
        real_replace(source, destination)
        replaced.append(destination)
        if len(replaced) == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # a handler run now would see one new file only

    previous = signal.signal(
        signal.SIGTERM,
        lambda *_: seen_by_handler.append(
            [target.read_text() if target.exists() else "-" for target in targets]
        ),
    )
    try:
        monkeypatch.setattr(os, "replace", replace_then_signal)
        with deferred_renames():
            for target in targets:
                with atomic_open(target, "w") as handle:
                    handle.write("new")
        monkeypatch.undo()
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen_by_handler == [["new", "new", "new"]]


# ---------------------------------------------------------------- case 14: two `dvc repro` at once


def _dvc(repo: Path, *command: str, **popen: Any) -> subprocess.Popen[str]:
    """Start a DVC command in `repo` with the project's interpreter first on PATH (as sh() does)."""
    env = os.environ | {
        "DVC_NO_ANALYTICS": "1",
        "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": str(repo),
    }
    return subprocess.Popen(
        ["dvc", *command],
        cwd=repo,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # A runner started in the background (nohup, `&`) ignores SIGINT, and children inherit
        # that; restore the default so Ctrl-C (SIGINT) reaches DVC and its stage as in a terminal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        **popen,
    )


# DVC 3.67 locks the repository briefly ("Unable to acquire lock") and each stage's paths for as
# long as it runs ("'…/data/prepared' is busy, it is being blocked by: (PID …)"); either may answer.
DVC_LOCK_MESSAGE = r"Unable to acquire lock|is busy, it is being blocked by"


def _cache_is_intact(repo: Path) -> bool:
    """Every object in the DVC cache still has the MD5 its name promises."""
    objects = [path for path in (repo / ".dvc/cache/files/md5").rglob("*") if path.is_file()]
    return bool(objects) and all(
        hashlib.md5(path.read_bytes()).hexdigest() == path.parent.name + path.name.removesuffix(".dir")
        for path in objects
    )


@pytest.mark.e2e
def test_two_dvc_repro_at_once_one_is_refused_and_nothing_is_corrupted(tmp_path):
    # A concurrent second `dvc repro` fails with DVC's lock message and corrupts nothing (also after Ctrl-C).
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    copy_project(repo)
    (repo / "params.yaml").write_text(_text(tiny_params(epochs=100000)))
    sh(repo, "git", "init", "-q")
    write_raw(repo / "data/raw")
    sh(repo, "dvc", "commit", "--force", "fetch")

    first, output = _dvc(repo, "repro", "train@tiny", start_new_session=True), []
    try:
        for line in first.stdout:  # until the first epoch: prepare is done and train holds its locks
            output.append(line)
            if "train@tiny epoch 1/" in line:
                break
        assert "train@tiny epoch 1/" in "".join(output), "".join(output)
        second = _dvc(repo, "repro", "train@tiny")
        second_output = second.communicate(timeout=60)[0]
        assert second.returncode != 0, second_output
        assert re.search(DVC_LOCK_MESSAGE, second_output), second_output
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(first.pid, signal.SIGINT)  # Ctrl-C in a terminal reaches the whole process group
        output.append(first.communicate(timeout=60)[0])
    assert first.returncode != 0 and "train: interrupted; no partial output was kept" in "".join(output)
    assert not (repo / "data/models/tiny.npz").exists() and temporaries(repo / "data") == []
    assert _cache_is_intact(repo)

    (repo / "params.yaml").write_text(_text(tiny_params()))
    third = sh(repo, "dvc", "repro", "train@tiny")
    assert "Stage 'prepare' didn't change, skipping" in third and "Running stage 'train@tiny'" in third
    assert "Data and pipelines are up to date" in sh(repo, "dvc", "status", "train@tiny")
    assert _cache_is_intact(repo)
