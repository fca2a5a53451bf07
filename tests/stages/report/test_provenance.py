"""The report says what made it: commit, DVC experiment, and what differed from the commit."""

from __future__ import annotations

import os
import subprocess

import pytest

from stages.common.params import ParamsError
from stages.report.provenance import changed_params, provenance
from tests.support.dvc import GIT_IDENTITY
from tests.support.faults import fifo_at


def _git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env=os.environ | GIT_IDENTITY)


def test_changed_params_are_named_key_by_key():
    before = "train:\n  epochs: 100\n  batch_size: 32\nseeds:\n- 42\n"
    after = {"train": {"epochs": 5, "batch_size": 32}, "seeds": [42, 43]}
    assert changed_params(before, after) == ["seeds", "train.epochs"]


def test_the_page_names_the_commit_the_experiment_and_what_differs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    monkeypatch.delenv("DVC_EXP_BASELINE_REV", raising=False)
    assert provenance() == "Made outside a git repository, so no commit records what made it."
    (tmp_path / "params.yaml").write_text("train:\n  epochs: 100\n")
    (tmp_path / "stages").mkdir()
    (tmp_path / "stages/train.py").write_text("print()\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-q", "-m", "x")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout
    assert provenance() == f"Made on commit {commit[:7]}, with params.yaml and the code as committed."
    (tmp_path / "params.yaml").write_text("train:\n  epochs: 5\n")
    (tmp_path / "stages/train.py").write_text("print(1)\n")
    monkeypatch.setenv("DVC_EXP_NAME", "quick")
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", commit.strip())
    assert provenance() == (
        f"Made by DVC experiment quick from commit {commit[:7]}; uncommitted changes to "
        "params.yaml (train.epochs), stages/train.py."
    )


def test_a_params_file_that_became_a_fifo_is_named_not_waited_for(tmp_path, monkeypatch):
    # The page's provenance re-reads params.yaml to name what changed: through the bounded reader.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_EXP_BASELINE_REV", raising=False)
    (tmp_path / "params.yaml").write_text("train:\n  epochs: 100\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-q", "-m", "x")
    with fifo_at(tmp_path / "params.yaml"), pytest.raises(ParamsError, match="params.yaml is a FIFO"):
        provenance()
