"""Fixtures of the stage tests: a workspace where the whole pipeline has run once on tiny data."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import mlp
from stages.common.params import architecture_settings
from tests.support.stages import params_text, run_stage_in_process, tiny_params
from tests.support.synthetic import make_workspace


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Path:
    """A workspace where prepare, train@tiny-42, evaluate@tiny-42, figures and report have all run once."""
    root = make_workspace(tmp_path_factory.mktemp("built"), tiny_params())
    with contextlib.chdir(root):
        for stage in ("prepare", "train", "evaluate", "figures", "report"):
            run_stage_in_process(stage)
    return root


@pytest.fixture
def workspace(built, tmp_path, monkeypatch) -> Path:
    """A private copy of the built workspace, as the current folder.

    Its params (another learning rate) and model (other weights) differ from those that made its outputs,
    so a rerun that got as far as replacing an output would change its bytes, and snapshots tell.
    """
    root = tmp_path / "workspace"
    shutil.copytree(built, root)
    params = tiny_params(learning_rate=0.05)
    (root / "params.yaml").write_text(params_text(params))
    settings = architecture_settings(params, "tiny") | {"seed": 42}  # what train records in the model
    model = mlp.MLP([784, 16, 10], np.random.default_rng(7))
    mlp.save_model(
        model, root / "data/models/tiny-42.npz", metadata={"architecture": "tiny", "settings": settings}
    )
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def fresh(tmp_path, monkeypatch) -> Path:
    """A folder with params.yaml (tiny_params) and synthetic data/raw only, as the current folder."""
    make_workspace(tmp_path, tiny_params())
    monkeypatch.chdir(tmp_path)
    return tmp_path


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
