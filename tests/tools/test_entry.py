"""Every tool ends in one line, never a traceback (tools/entry.py): Ctrl-C and SIGTERM at a known
point of a real process (a `dvc` that waits, or a step of the tool made to wait), a stdout that
cannot be written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import PROJECT
from tests.support.dvc import IDENTITY
from tests.support.stages import params_text, tiny_params

# Run as `python -c`: makes one step wait (writing `waiting` first), then runs the tool as
# `python -m TOOL` would, so its own `if __name__ == "__main__":` ends it.
WAIT_IN = """
import contextlib, runpy, sys, time, {module}
def wait(*args, **kwargs):
    open("waiting", "w").close()
    time.sleep(60)
{module}.{name} = contextlib.contextmanager(wait) if {context} else wait
sys.argv = ["{tool}"]
runpy.run_module("{tool}", run_name="__main__")
"""
# A `dvc` ahead of the real one that waits (and leaves quietly on Ctrl-C, as DVC does).
WAITING_DVC = """
import signal, sys, time
signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
open("waiting", "w").close()
time.sleep(60)
"""


def _fake_dvc(tmp_path: Path, code: str) -> dict[str, str]:
    fake = tmp_path / "fake" / "dvc" / "__main__.py"
    fake.parent.mkdir(parents=True)
    (fake.parent / "__init__.py").write_text("")
    fake.write_text(code)
    return os.environ | {"PYTHONPATH": f"{tmp_path / 'fake'}{os.pathsep}{PROJECT}"}


def _stopped(command: list[str], cwd: Path, env: dict[str, str], signum: int) -> tuple[int, str]:
    """Start `command`, wait until it writes `waiting`, send `signum` to its process group (as
    Ctrl-C does) and return its exit status and stderr."""
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while not (cwd / "waiting").exists():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[1]
        time.sleep(0.05)
    os.killpg(process.pid, signum)
    _, stderr = process.communicate(timeout=60)
    return process.returncode, stderr


def _restore_repo(tmp_path: Path) -> None:
    """A committed params.yaml, dvc.yaml and empty dvc.lock; params.yaml then edited."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "dvc.yaml").write_bytes((PROJECT / "dvc.yaml").read_bytes())
    (tmp_path / "params.yaml").write_text(params_text(tiny_params()))
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    subprocess.run(["git", "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run(["git", *IDENTITY, "commit", "-q", "-m", "base"], cwd=tmp_path, check=True)
    (tmp_path / "params.yaml").write_text(params_text(tiny_params(epochs=7)))


@pytest.mark.parametrize(
    ("signum", "said", "status"),
    [
        pytest.param(signal.SIGINT, "interrupted", 130, id="SIGINT"),
        pytest.param(signal.SIGTERM, "terminated", 143, id="SIGTERM"),
    ],
)
@pytest.mark.parametrize("tool", ["table", "experiment", "prune", "restore"])
def test_a_tool_stopped_by_a_signal_says_so_in_one_line(tmp_path, tool, signum, said, status):
    # Was: a KeyboardInterrupt traceback (Ctrl-C), and restore silent with 143 on SIGTERM.
    env = _fake_dvc(tmp_path, WAITING_DVC)
    command = [sys.executable, "-m", f"tools.{tool}"]
    if tool == "experiment":
        (tmp_path / "params.yaml").write_text(params_text(tiny_params()))
        (tmp_path / "experiments").mkdir()
        (tmp_path / "experiments/x.yaml").write_text("train:\n  epochs: 3\n")
        command.append("x")
    elif tool in ("prune", "restore"):  # they use DVC's Python API: the real DVC, one step made to wait
        env = os.environ | {"PYTHONPATH": str(PROJECT)}
        module, name, context = (
            ("tools.dvc_repo", "locked_repo", True)
            if tool == "prune"
            else ("stages.register", "register", False)
        )
        code = WAIT_IN.format(module=module, name=name, context=context, tool=f"tools.{tool}")
        command = [sys.executable, "-c", code]
        if tool == "restore":
            _restore_repo(tmp_path)
    returncode, stderr = _stopped(command, tmp_path, env, signum)
    assert returncode == status and "Traceback" not in stderr, stderr
    last = stderr.splitlines()[-1]
    assert last.startswith(f"{tool}: {said}"), stderr
    if tool == "restore":  # it had moved the params.yaml edit aside: where, and the way back
        assert "nothing is lost: kept what it replaced in .dvc/tmp/restore/" in last, last
        backup = last.split("kept what it replaced in ")[1].split(";")[0]
        assert (tmp_path / backup / "files/params.yaml").read_text() == params_text(tiny_params(epochs=7))
        assert f"to put it back: `cp -a {backup}/files/. .`" in last


def test_a_table_written_to_a_full_device_is_one_line(tmp_path):
    # Was: an OSError traceback (defect G): `python -m tools.table > /dev/full`.
    env = _fake_dvc(tmp_path, "import sys\nsys.stdout.write('[]')\n")
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "tools.table"],
            cwd=tmp_path,
            env=env,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith(
        "table: error: its output (stdout) cannot be written: No space left on device"
    )


FLOW = "deep: " + "[" * 1000 + "]" * 1000 + "\n"
BLOCK = "deep:\n" + "".join("  " * depth + "-\n" for depth in range(1000))


@pytest.mark.parametrize("text", [FLOW, BLOCK], ids=["flow", "block"])
@pytest.mark.parametrize(
    ("command", "file"),
    [
        pytest.param(["stages.check", "data/checked.txt"], "params.yaml", id="check-params"),
        pytest.param(["tools.prune"], "params.yaml", id="prune-params"),
        pytest.param(["tools.experiment", "x"], "params.yaml", id="experiment-params"),
        pytest.param(["tools.experiment", "x"], "experiments/x.yaml", id="experiment-x"),
    ],
)
def test_yaml_nested_1000_deep_is_one_clear_error(tmp_path, command, file, text):
    # Checked after the hostile pass (B): YAML depth is bounded before ruamel recurses.
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q", "--no-scm"], cwd=tmp_path, check=True)
    (tmp_path / "dvc.yaml").write_bytes((PROJECT / "dvc.yaml").read_bytes())
    (tmp_path / "params.yaml").write_text(params_text(tiny_params()))
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments/x.yaml").write_text("train:\n  epochs: 3\n")
    with open(tmp_path / file, "a") as nested:
        nested.write(text)
    env = os.environ | {"PYTHONPATH": str(PROJECT)}
    done = subprocess.run(
        [sys.executable, "-m", *command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"error: {file} nests YAML more than 32 levels deep" in done.stderr.splitlines()[0]
