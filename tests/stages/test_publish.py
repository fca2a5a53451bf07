"""The publish stage: the artifacts section of dvc.yaml follows params.yaml, and the pad's weights."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

import mlp
from stages import publish
from tests.support import PROJECT
from tests.support import yaml12 as yaml
from tests.support.report import build_project
from tests.support.stages import failing_stage, run_stage_in_process

PATTERN = "data/models/{run}.npz"


def test_artifacts_name_every_run_with_its_labels():
    section = publish.artifacts(["a", "b"], [1, 2], PATTERN)
    assert list(section) == ["a-1", "a-2", "b-1", "b-2"]
    assert section["b-2"]["path"] == "data/models/b-2.npz" and section["b-2"]["type"] == "model"
    assert section["b-2"]["labels"] == ["mnist", "mlp", "architecture-b", "seed-2"]


def test_register_rewrites_the_models_artifacts_only_and_only_when_they_changed(tmp_path):
    registry = tmp_path / "dvc.yaml"
    text = (
        "# a comment that stays\nstages:\n  x:\n    cmd: echo  # and this one\nartifacts:\n"
        "  my-data:  # declared by hand\n    path: data/prepared\n    type: dataset\n"
    )
    registry.write_text(text)
    assert publish.register(registry, publish.artifacts(["a"], [1], PATTERN), PATTERN)
    written = registry.read_text()
    assert written.startswith(text) and list(yaml.safe_load(written)["artifacts"]) == ["my-data", "a-1"]
    mtime = registry.stat().st_mtime_ns
    assert not publish.register(registry, publish.artifacts(["a"], [1], PATTERN), PATTERN)
    assert registry.stat().st_mtime_ns == mtime
    assert publish.register(registry, publish.artifacts(["b"], [1], PATTERN), PATTERN)
    assert list(yaml.safe_load(registry.read_text())["artifacts"]) == ["my-data", "b-1"]
    assert publish.register(registry, {}, PATTERN)
    assert registry.read_text() == text


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    build_project(tmp_path, ["deep", "wide"], seeds=(42, 43))
    (tmp_path / "dvc.yaml").write_bytes((PROJECT / "dvc.yaml").read_bytes())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_stage_declares_every_run_and_writes_each_architecture_s_first_seed_for_the_pad(project):
    run_stage_in_process("publish")
    declared = yaml.safe_load((project / "dvc.yaml").read_text())
    assert list(declared["artifacts"]) == ["deep-42", "deep-43", "wide-42", "wide-43"]
    assert declared["stages"] == yaml.safe_load((PROJECT / "dvc.yaml").read_text())["stages"]
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
