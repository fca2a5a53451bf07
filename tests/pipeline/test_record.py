"""The record never lies, with real DVC: what dvc.lock and the outputs say is what ran.

A bad `-S` value stops at the check stage with every output in place; params changed by a
concurrent `dvc exp run` are never recorded for results made with the old ones; a stage whose
`dvc` was killed writes nothing; temporary files of a killed write are never hashed; a run-cache
restore brings back the training time of the run it restores.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stages.common.runner import RESTORE_COMMAND
from tests.support import yaml12 as yaml
from tests.support.dvc import IDENTITY, make_repo, run, sh, start
from tests.support.stages import params_text, tiny_params

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# First on PYTHONPATH of the stages DVC starts: with STAGE_WAIT_FOR set, stage STAGE_WAIT_IN (DVC
# names the running stage in DVC_STAGE) prints a line and waits for that file to exist before it
# writes its first output (at its first fsync). Other stages, such as `check`, run through.
SITECUSTOMIZE = """
import os, sys, time

_wait_for = os.environ.get("STAGE_WAIT_FOR")
if _wait_for and os.environ.get("DVC_STAGE") == os.environ.get("STAGE_WAIT_IN"):
    _fsync = os.fsync

    def _wait_then_fsync(fd):
        print("stage waiting before writing", file=sys.stderr, flush=True)
        while not os.path.exists(_wait_for):
            time.sleep(0.05)
        os.fsync = _fsync
        _fsync(fd)

    os.fsync = _wait_then_fsync
"""


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A repository where the whole tiny pipeline has run and been committed."""
    repo = make_repo(tmp_path_factory.mktemp("record"), tiny_params())
    sh(repo, "dvc", "repro")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", *IDENTITY, "commit", "-q", "-m", "baseline")
    return repo


@pytest.fixture
def clean(repo):
    """The committed state again after each test: params.yaml, dvc.lock and the outputs."""
    yield repo
    sh(repo, "sh", "-c", "git show HEAD:params.yaml > params.yaml")  # see tools/restore.py for why
    sh(repo, "git", "checkout", "--", ".")
    sh(repo, "dvc", "checkout", "--force")


def _outputs(repo: Path) -> dict[str, bytes]:
    return {
        path.relative_to(repo).as_posix(): path.read_bytes()
        for folder in ("data/models", "reports")
        for path in sorted((repo / folder).rglob("*"))
        if path.is_file()
    }


def _lock_params(repo: Path, stage: str) -> dict:
    return yaml.safe_load((repo / "dvc.lock").read_text())["stages"][stage]["params"]["params.yaml"]


def _stage_pids(session: int) -> list[int]:
    """The Python processes running `stages.train` in process session `session` (Linux /proc).

    Matched on an argv word, not on the command line as text: where DVC's shell is dash
    (`/bin/sh`, as in these tests), `sh -c "python -m stages.train …"` stays alive as the
    stage's parent, and its one argument contains the stage's command line too.
    """
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) != session:
                    continue
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"stages.train" in argv:
                pids.append(int(entry.name))
    return pids


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("train.epochs=-1", "train.epochs: must be at least 1"),
        # As long as 0.9: git's index, refreshed by DVC in the same second, takes the file for
        # unchanged, so `git checkout params.yaml` would leave the bad value in place.
        ("train.momentum=1.5", "train.momentum: momentum must lie in [0, 1), got 1.5"),
        # Renames every item: DVC removes the old items' outputs before `check` runs.
        ("seeds=[43.5]", "seeds"),
        # issue 20: a key no stage reads; DVC recorded an experiment in which nothing ran.
        ("+seeds2=[43]", "seeds2: unknown key"),
    ],
)
def test_a_bad_value_stops_at_the_check_and_the_message_gives_the_way_back(clean, setting, problem):
    # `dvc exp run -S` with a bad value fails before any other stage runs; the command the message
    # gives brings back params.yaml, dvc.lock and every output, byte for byte.
    before, params = _outputs(clean), (clean / "params.yaml").read_bytes()
    result = run(clean, "dvc", "exp", "run", "-S", setting)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "check: error:" in output and problem in output, output
    sh(
        clean,
        "sh",
        "-c",
        re.search(r"To go back \(also after a `dvc exp run -S`\): `([^`]+)`", output).group(1),
    )
    assert (clean / "params.yaml").read_bytes() == params
    assert _outputs(clean) == before
    assert "up to date" in sh(clean, "dvc", "status")


def test_an_unknown_top_level_key_stops_dvc_repro_at_the_check(clean):
    # issue 20: `epochs: 5` at the top of params.yaml (meant for train) changed no stage's params:
    # `dvc repro` said "Data and pipelines are up to date". check tracks the whole file now.
    before = _outputs(clean)
    (clean / "params.yaml").write_text(params_text(tiny_params()) + "epochs: 5\n")
    result = run(clean, "dvc", "repro")
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "check: error:" in output, output
    assert "- epochs: unknown key" in output and "Running stage 'prepare'" not in output
    assert _outputs(clean) == before


def test_dvc_run_without_the_environment_on_path_says_how_to_activate_it(clean, tmp_path):
    # issue 20: `.venv/bin/dvc repro` with the environment not activated ran the stages with the
    # system's `python`: a ModuleNotFoundError traceback, after DVC deleted check's token. Here that
    # Python is this one without its packages (`-S`: no site-packages).
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    (bin_folder / "python").write_text(f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')
    (bin_folder / "python").chmod(0o755)
    environment = os.environ | {"DVC_NO_ANALYTICS": "1", "PATH": f"{bin_folder}{os.pathsep}/usr/bin:/bin"}
    dvc = os.path.join(os.path.dirname(sys.executable), "dvc")
    result = subprocess.run(
        [dvc, "repro", "--force", "--single-item", "check"],
        cwd=clean,
        env=environment,
        capture_output=True,
        text=True,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output, output
    assert f"check: error: this Python ({sys.executable}) lacks the module" in output
    assert "`source .venv/bin/activate`" in output
    sh(clean, "dvc", "repro")  # with the environment: check's token back


def test_restore_undoes_an_uncommitted_run_and_a_failed_experiment_with_autostage(clean):
    # With DVC's suggested core.autostage, a run with a new seed (staged: dvc.lock, .gitignore
    # lines) and then a refused -S: `python -m tools.restore` gives back exactly the commit.
    committed = {name: (clean / name).read_bytes() for name in ("params.yaml", "dvc.lock")}
    before = _outputs(clean)
    sh(clean, "dvc", "config", "--local", "core.autostage", "true")
    try:
        (clean / "params.yaml").write_text(params_text(tiny_params() | {"seeds": [42, 43]}))
        sh(clean, "dvc", "repro")
        assert run(clean, "dvc", "exp", "run", "-S", "train.momentum=1.5").returncode != 0
        sh(clean, "python", "-m", "tools.restore")
    finally:
        sh(clean, "dvc", "config", "--local", "--unset", "core.autostage")
    assert {name: (clean / name).read_bytes() for name in committed} == committed
    assert _outputs(clean) == before
    assert sh(clean, "git", "status", "--porcelain") == ""
    assert "up to date" in sh(clean, "dvc", "status")


def test_a_stage_that_fails_under_dvc_says_how_to_get_its_outputs_back(clean):
    # DVC deletes a stage's outputs before running it; the message gives the command that restores them.
    before = _outputs(clean)
    (clean / "params.yaml").write_text(params_text(tiny_params(learning_rate=1.0e30)))  # valid; diverges
    result = run(clean, "dvc", "repro", "train@tiny-42")
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "training diverged" in output
    assert not (clean / "data/models/tiny-42.npz").exists()
    assert f"`{RESTORE_COMMAND}` (or `make restore`) brings back the last committed state" in output
    assert list((clean / "live").iterdir()) == [clean / "live/README.md"]  # the failed run's progress went
    (clean / "live/tiny-43.csv").write_text("epoch\n1\n")  # what a run killed by SIGKILL leaves
    sh(clean, "sh", "-c", RESTORE_COMMAND)
    assert _outputs(clean) == before
    assert list((clean / "live").iterdir()) == [clean / "live/README.md"]


def test_leftover_temporaries_are_not_hashed(clean):
    # What a SIGKILL mid-write leaves (.NAME.XXXX.tmp) changes no stage's dependencies.
    (clean / "reports/history/.tiny-42.csv.k1ll3d.tmp").write_text("half a history")
    (clean / "data/prepared/.train.npz.k1ll3d.tmp").write_bytes(b"half an array")
    assert "up to date" in sh(clean, "dvc", "status")
    for leftover in clean.rglob("*.k1ll3d.tmp"):
        leftover.unlink()


def _repro_meeting_an_experiment(
    repo: Path, hooks: Path, repro: list[str], setting: str
) -> tuple[subprocess.CompletedProcess[str], int, str]:
    """Run `dvc repro REPRO...` (epochs 4) and, while train@tiny-42 waits before writing, `dvc exp
    run -S SETTING`; return the experiment's result and the repro's exit status and output."""
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    go = hooks / "go"
    (repo / "params.yaml").write_text(params_text(tiny_params(epochs=4)))
    os.environ |= {"STAGE_WAIT_FOR": str(go), "STAGE_WAIT_IN": "train@tiny-42"}
    try:
        first = start(repo, "dvc", "repro", *repro, hooks=hooks)
    finally:
        del os.environ["STAGE_WAIT_FOR"], os.environ["STAGE_WAIT_IN"]
    output = []
    try:
        for line in first.stdout or []:
            output.append(line)
            if "stage waiting before writing" in line:
                break
        experiment = run(repo, "dvc", "exp", "run", "-S", setting)
    finally:
        go.touch()
        output.append(first.communicate(timeout=300)[0])
    return experiment, first.returncode, "".join(output)


def test_params_changed_by_a_concurrent_experiment_are_never_recorded(clean, tmp_path):
    # A `dvc exp run -S` during a `dvc repro` is refused by DVC but leaves params.yaml changed; the
    # running stage must then refuse to write, so dvc.lock never pairs old results with new params.
    experiment, code, text = _repro_meeting_an_experiment(
        clean, tmp_path, ["train@tiny-42"], "train.epochs=2"
    )
    assert experiment.returncode != 0  # refused: the repository is locked
    assert "epochs: 2" in (clean / "params.yaml").read_text()  # but params.yaml was changed
    assert code != 0 and "train: error: params.yaml changed while this stage ran" in text, text
    assert _lock_params(clean, "train@tiny-42")["train"]["epochs"] == 3  # the committed record
    assert "up to date" not in sh(clean, "dvc", "status", "train@tiny-42")


def test_prepare_params_changed_during_a_run_are_never_recorded_for_the_report(clean, tmp_path):
    # The same with `-S prepare.subset=300` while train runs: train, which uses no subset, may
    # finish, but the report (which records all of prepare's params) must not be recorded under a
    # subset its prepared data never had.
    experiment, code, text = _repro_meeting_an_experiment(clean, tmp_path, [], "prepare.subset=300")
    assert experiment.returncode != 0
    assert code != 0, text
    # The figures stage, which reads the prepared data first, refuses; the report never runs.
    assert (
        "figures: error: data/prepared was prepared with other settings than params.yaml's prepare " in text
    )
    assert "subset 400 (params.yaml: 300)" in text
    for stage in ("figures", "report"):  # the committed record
        assert _lock_params(clean, stage)["prepare"]["subset"] == 400


def test_a_stage_whose_dvc_is_killed_stops_without_writing(clean):
    # `kill <dvc pid>` leaves the stage running; it must notice and stop before writing anything.
    (clean / "params.yaml").write_text(params_text(tiny_params(epochs=100000)))
    dvc = start(clean, "dvc", "repro", "train@tiny-42", start_new_session=True)
    try:
        for line in dvc.stdout:
            if "train@tiny-42 epoch 1/" in line:
                break
        [stage] = _stage_pids(dvc.pid)  # dvc leads its own session, which its children share
        dvc.send_signal(signal.SIGTERM)  # the dvc process only, as `kill <pid>` does
        dvc.communicate(timeout=60)
        deadline = time.monotonic() + 30
        while stage in _stage_pids(dvc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert stage not in _stage_pids(dvc.pid), "the stage outlived its dvc"
    finally:
        for pid in _stage_pids(dvc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert not (clean / "data/models/tiny-42.npz").exists()  # DVC had removed it; nothing new came
    assert list(clean.rglob("*.tmp")) == []


def test_a_run_cache_restore_brings_back_the_time_of_the_run_it_restores(clean):
    # After an experiment with other epochs, back to the committed params: the restored outputs,
    # the training time included, are those of the committed run, not of the last one.
    committed = json.loads((clean / "reports/train/tiny-42.json").read_text())
    (clean / "params.yaml").write_text(params_text(tiny_params(epochs=5)))
    sh(clean, "dvc", "repro", "train@tiny-42")
    sh(clean, "git", "checkout", "params.yaml")
    output = sh(clean, "dvc", "repro", "train@tiny-42")
    assert "is cached - skipping run" in output
    assert json.loads((clean / "reports/train/tiny-42.json").read_text()) == committed
