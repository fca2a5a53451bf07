"""The tools that call DVC run it through their own interpreter (`python -m dvc`): with the venv's
bin not on PATH (not activated) they work, where `dvc` by name was a FileNotFoundError traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from dvc.repo import Repo

from tests.support import PROJECT
from tests.support.stages import params_text, tiny_params

ENVIRONMENT = {"PATH": "/usr/bin:/bin", "DVC_NO_ANALYTICS": "1", "PYTHONPATH": str(PROJECT)}
# A one-stage pipeline that writes the files tools.experiment collects, in no time.
WRITES_RESULTS = (
    "mkdir -p reports/metrics reports/train"
    " && echo '{\"accuracy\": 0.5}' > reports/metrics/tiny-42.json"
    " && echo '{\"train_seconds\": 1}' > reports/train/tiny-42.json"
)


@pytest.fixture
def repository(tmp_path):
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "test@example.com")
    git("config", "user.name", "test")
    Repo.init(root_dir=str(tmp_path))
    (tmp_path / "params.yaml").write_text(params_text(tiny_params()))
    (tmp_path / "dvc.yaml").write_text(
        json.dumps({"stages": {"results": {"cmd": WRITES_RESULTS, "params": ["train.epochs"]}}})
    )
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments/shorter.yaml").write_text("train:\n  epochs: 1\n")
    git("add", "-A")
    git("commit", "-q", "-m", "start")
    return tmp_path


def _run(tool: str, *args: str, cwd) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", f"tools.{tool}", *args]
    return subprocess.run(command, cwd=cwd, env=ENVIRONMENT, capture_output=True, text=True, check=False)


def test_the_table_runs_without_dvc_on_path(repository):
    done = _run("table", cwd=repository)
    assert done.returncode == 0 and done.stdout.splitlines()[1].startswith("workspace"), done.stderr


def test_an_experiment_runs_without_dvc_on_path(repository):
    done = _run("experiment", "shorter", cwd=repository)
    assert done.returncode == 0, done.stderr
    assert json.loads((repository / "experiments/results/shorter.json").read_text())["runs"] == {
        "tiny-42": {"accuracy": 0.5, "train_seconds": 1}
    }
