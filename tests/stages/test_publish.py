"""The publish stage: each architecture's first-seed weights and input contract for the drawing pad."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

import mlp
from tests.support import PROJECT
from tests.support.report import build_project
from tests.support.stages import failing_stage, run_stage_in_process

PATTERN = "data/models/{run}.npz"


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    build_project(tmp_path, ["deep", "wide"], seeds=(42, 43))
    (tmp_path / "dvc.yaml").write_bytes((PROJECT / "dvc.yaml").read_bytes())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_stage_writes_each_architecture_s_first_seed_for_the_pad(project):
    run_stage_in_process("publish")
    script = (project / "reports/pad/models.js").read_text()
    assert script.startswith("window.PAD_MODELS = ") and script.endswith(";\n")
    models = json.loads(script.removeprefix("window.PAD_MODELS = ").removesuffix(";\n"))
    assert [model["run"] for model in models] == ["deep-42", "wide-42"]
    loaded = mlp.load_classifier("data/models/wide-42.npz")
    W0 = np.frombuffer(base64.b64decode(models[1]["layers"][0]["W"]), "<f4").reshape(784, 8)
    assert np.array_equal(W0, loaded.model.layers[0].W) and models[1]["labels"] == list("0123456789")


def test_a_model_without_its_contract_is_refused_with_the_way_to_rebuild_it(project, capsys):
    model, metadata = mlp.load_model("data/models/deep-42.npz")
    mlp.save_model(model, "data/models/deep-42.npz", metadata)
    message = failing_stage("publish", capsys)
    assert "deep-42.npz: has no input contract" in message and "train@deep-42" in message
    assert not (project / "reports/pad/models.js").exists()
