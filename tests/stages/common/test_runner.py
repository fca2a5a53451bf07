"""The stage runner's guarantees: a stage replaces all its outputs or none, whatever stops it
(Ctrl-C and SIGTERM sent to real `python -m stages.X` processes, a full disk, an unwritable
folder), and ends with one message naming the file and the fix, never a traceback."""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stages.common.output import open_output
from stages.common.runner import describe, run_stage, transaction
from tests.support import PROJECT
from tests.support.faults import fifo_at, fill_disk
from tests.support.stages import (
    failing_stage,
    params_text,
    run_stage_in_process,
    snapshot,
    stage_args,
    temporaries,
    tiny_params,
)

# ---------------------------------------------------------------- Ctrl-C and SIGTERM, real processes

# Loaded by every child at start-up (it is first on PYTHONPATH). Ctrl-C is made to raise
# KeyboardInterrupt as in a terminal, even if this test runner was started with SIGINT ignored
# (a background job); STAGE_PAUSE_AT_FSYNC=N pauses after the Nth fsync, i.e. when the
# Nth output is complete in its temporary file but not yet renamed into place.
SITECUSTOMIZE = """
import os, signal, sys, time

signal.signal(signal.SIGINT, signal.default_int_handler)
_pause_at = int(os.environ.get("STAGE_PAUSE_AT_FSYNC", "0"))
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

    def wait_for(self, text: str, timeout: float = 120) -> None:  # timeouts: hang guards only
        deadline = time.monotonic() + timeout
        while (line := self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))) is not None:
            if text in line:
                return
        raise AssertionError(f"the stage ended before printing {text!r}:\n{''.join(self.err)}")

    def finish(self, timeout: float = 120) -> tuple[int, str]:
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
    drop = {"MNIST_DIR", "no_proxy", "NO_PROXY", "STAGE_PAUSE_AT_FSYNC"}
    env = {key: value for key, value in os.environ.items() if key not in drop}
    return env | {"PYTHONPATH": f"{hooks}{os.pathsep}{PROJECT}", "PYTHONDONTWRITEBYTECODE": "1"}


@contextlib.contextmanager
def silent_proxy() -> Iterator[tuple[str, socket.socket]]:
    """A loopback 'proxy' that accepts connections and never answers: every mirror hangs on it."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(120)
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


@pytest.mark.slow
@pytest.mark.parametrize(
    ("stage", "moment", "signum"),
    SIGNAL_CASES,
    ids=[f"{stage}-{moment}-{signal.Signals(signum).name}" for stage, moment, signum in SIGNAL_CASES],
)
def test_interrupted_stage_exits_128_plus_signal_and_changes_nothing(
    workspace, child_env, stage, moment, signum
):
    # Ctrl-C (130) or SIGTERM (143) leaves no temporary file and every earlier output byte-identical.
    # (SIGTERM during fetch: tests/stages/test_fetch.py::test_sigterm_exits_143_and_leaves_nothing.)
    env = dict(child_env)
    if moment == "training":  # long enough that the signal always lands mid-training
        (workspace / "params.yaml").write_text(params_text(tiny_params(learning_rate=0.05, epochs=100000)))
    if moment == "writing":
        env["STAGE_PAUSE_AT_FSYNC"] = {"train": "3", "evaluate": "3"}[stage]  # all its outputs
    before = snapshot(workspace)
    args = stage_args(stage)
    with silent_proxy() as (proxy, listener), contextlib.ExitStack() as held:
        if stage == "fetch":
            env |= {"http_proxy": proxy, "https_proxy": proxy}
        child = Child([f"stages.{stage}", *args], workspace, env)
        try:
            if stage == "fetch":
                connection, _ = listener.accept()  # the first mirror request is now waiting
                held.enter_context(connection)  # open and silent until the end
            else:
                child.wait_for("paused before rename" if moment == "writing" else "train@tiny-42 epoch 1/")
            child.process.send_signal(signum)
        finally:
            code, err = child.finish()
    word = "interrupted" if signum == signal.SIGINT else "terminated"
    assert code == 128 + signum, err
    assert f"{stage}: {word}; no partial output was kept" in err and "Traceback" not in err
    assert temporaries(workspace) == []
    assert snapshot(workspace) == before


# ---------------------------------------------------------------- full disk, unwritable folder


DISK_FULL_CASES = [
    # stage, the file being written when the disk fills (its order among the stage's writes), bytes it got
    ("train", "data/models/tiny-42.npz", 1, 0),
    ("train", "data/models/tiny-42.npz", 1, 20000),
    ("train", "reports/train/tiny-42.json", 3, 10),
    ("evaluate", "reports/metrics/tiny-42.json", 1, 100),
    ("evaluate", "reports/predictions/tiny-42.csv", 3, 50),
    ("figures", "reports/figures/samples.png", 1, 3000),
    pytest.param(
        "figures", "reports/figures/weights_tiny.png", 10, 0, marks=pytest.mark.slow
    ),  # 9 figures first
    ("report", "reports/README.md", 3, 100),
]


@pytest.mark.parametrize(("stage", "target", "at_file", "room"), DISK_FULL_CASES)
def test_full_disk_names_the_file_and_keeps_every_earlier_output(
    workspace, monkeypatch, capsys, stage, target, at_file, room
):
    # A disk filling mid-write is named with the fix; no temporary file, every earlier output unchanged.
    if stage in ("figures", "report"):  # evaluate the workspace's other model first, so the inputs agree
        run_stage_in_process("evaluate")
    before = snapshot(workspace)
    fill_disk(monkeypatch, at_file, room)
    message = failing_stage(stage, capsys)
    assert f"cannot write {target}: No space left on device; free some disk space" in message
    assert temporaries(workspace) == []
    assert snapshot(workspace) == before


def test_real_full_disk_while_saving_the_model(workspace, capsys, mount_tmpfs):
    # A real full file system (a 32 KiB tmpfs) gives the same message and leaves no temporary file.
    before = snapshot(workspace)
    mount_tmpfs(workspace / "data/models", "size=32k")
    message = failing_stage("train", capsys)
    assert "cannot write data/models/tiny-42.npz: No space left on device; free some disk space" in message
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
        "data/models/tiny-42.npz",
        _file_in_the_way,
        "cannot write blocked/tiny-42.npz: File exists; "
        "a file stands where its folder should be; move that file away",
    ),
    (
        "train",
        "data/models/tiny-42.npz",
        _read_only_mount,
        "cannot write blocked/tiny-42.npz: Read-only file system; remount it read-write",
    ),
    (
        "train",
        "data/models/tiny-42.npz",
        _no_permission,
        "cannot write blocked/tiny-42.npz: Permission denied; make its folder writable",
    ),
    (
        "evaluate",
        "reports/metrics/tiny-42.json",
        _file_in_the_way,
        "cannot write blocked/tiny-42.json: File exists; "
        "a file stands where its folder should be; move that file",
    ),
    (
        "evaluate",
        "reports/metrics/tiny-42.json",
        _read_only_mount,
        "cannot write blocked/tiny-42.json: Read-only file system; remount it read-write",
    ),
    (
        "evaluate",
        "reports/metrics/tiny-42.json",
        _no_permission,
        "cannot write blocked/tiny-42.json: Permission denied; make its folder writable",
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
    args = [f"blocked/{Path(output).name}" if arg == output else arg for arg in stage_args(stage)]
    message = failing_stage(stage, capsys, args)
    assert expected in message
    assert temporaries(workspace) == []
    assert snapshot(workspace) == before


def test_an_output_that_is_no_regular_file_is_refused_and_kept(workspace, capsys):
    # A stage run by hand with a device or FIFO as an output (`/dev/full`) used to put a regular
    # file in its place and report success; now it names it, and nothing is written.
    target = workspace / "reports/metrics/tiny-42.json"
    with fifo_at(target):
        before = snapshot(workspace)
        message = failing_stage("evaluate", capsys)
        assert message.startswith(
            "evaluate: error: cannot write reports/metrics/tiny-42.json: it is a FIFO (named pipe), "
            "not a regular file, and writing would replace it; give the path of a file instead"
        )
        assert target.is_fifo() and snapshot(workspace) == before and temporaries(workspace) == []


def test_a_pending_output_removed_by_another_process_is_named_as_such(tmp_path, capsys):
    # Another run of the same output deletes the temporaries it finds; the final rename then fails
    # with ENOENT, which used to read "its folder does not exist; create it" beside an existing folder.
    target = tmp_path / "out.txt"

    def main(argv):
        with open_output(target) as handle:
            handle.write("new")
        for temporary in tmp_path.glob(".out.txt.*.tmp"):
            temporary.unlink()

    with pytest.raises(SystemExit) as exited:
        run_stage(main, "demo", [])
    err = capsys.readouterr().err
    assert exited.value.code == 1 and err.count("\n") == 1 and "folder does not exist" not in err
    assert err.startswith(f"demo: error: cannot write {target}: its temporary file .out.txt.")
    assert "was removed by another process before it was renamed into place" in err


# ---------------------------------------------------------------- all outputs or none


@pytest.mark.parametrize("failure", [None, KeyboardInterrupt, OSError], ids=["none", "Ctrl-C", "OSError"])
@pytest.mark.parametrize("after_file", [1, 3])
def test_a_stage_replaces_all_its_outputs_or_none(tmp_path, failure, after_file):
    # A stage replaces all its outputs, or after a failure at any point none (run_stage: all but fetch).
    targets = [tmp_path / f"out{i}.txt" for i in range(1, 4)]
    for target in targets:
        target.write_text("old")
    with contextlib.suppress(KeyboardInterrupt, OSError), transaction():
        for i, target in enumerate(targets, start=1):
            with open_output(target) as handle:
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
        with transaction():
            for target in targets:
                with open_output(target) as handle:
                    handle.write("new")
        monkeypatch.undo()
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen_by_handler == [["new", "new", "new"]]


# A stage whose stderr is a real buffered stream over a raw file that receives SIGTERM inside
# its write(), where the buffer's lock is held, as when the signal interrupts a blocked write.
SIGTERM_INSIDE_A_WRITE = """
import io, os, signal, sys
from stages.common.runner import run_stage

class SignalOnFirstWrite(io.RawIOBase):
    written = False

    def writable(self):
        return True

    def write(self, data):
        if not self.written:
            self.written = True
            os.kill(os.getpid(), signal.SIGTERM)  # its handler runs before this method returns
        os.write(2, data)
        return len(data)

sys.stderr = io.TextIOWrapper(io.BufferedWriter(SignalOnFirstWrite()), line_buffering=True)

def main(argv):
    print("train@tiny-42 epoch 1/3", file=sys.stderr)

run_stage(main, "chatty")
"""


def test_sigterm_in_the_middle_of_a_write_to_stderr_still_ends_with_one_message(child_env):
    # The message is printed once the stack has unwound, not inside the signal handler, which
    # would meet stderr locked: "reentrant call inside <_io.BufferedWriter name='<stderr>'>".
    result = subprocess.run(
        [sys.executable, "-c", SIGTERM_INSIDE_A_WRITE],
        env=child_env,
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 128 + signal.SIGTERM, result.stderr
    assert result.stderr.endswith("chatty: terminated; no partial output was kept\n"), result.stderr


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            OSError(errno.ENOSPC, "cannot write a.json: No space left on device"),
            "cannot write a.json: No space left on device; free some disk space, then run again",
        ),
        (
            FileNotFoundError(errno.ENOENT, "No such file or directory", "b.csv"),
            "b.csv: No such file or directory; its folder does not exist; create it",
        ),
        (ValueError("plain"), "plain"),
    ],
)
def test_describe_adds_the_fix_to_what_the_system_said(error, expected):
    # An OSError's message gets the usual fix for its errno, whether the path is in it or in filename.
    assert describe(error) == expected
