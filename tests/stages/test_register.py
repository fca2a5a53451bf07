"""The register stage: dvc.yaml's artifacts follow params.yaml, and artifacts declared by hand stay."""

from __future__ import annotations

from pathlib import Path

from stages import register
from tests.support import PROJECT
from tests.support.report import build_project
from tests.support.stages import run_stage_in_process
from tests.support.yaml12 import safe_load

PATTERN = "data/models/{run}.npz"


def test_artifacts_name_every_run_with_its_labels():
    section = register.artifacts(["a", "b"], [1, 2], PATTERN)
    assert list(section) == ["a-1", "a-2", "b-1", "b-2"]
    assert section["b-2"]["path"] == "data/models/b-2.npz" and section["b-2"]["type"] == "model"
    assert section["b-2"]["labels"] == ["mnist", "mlp", "architecture-b", "seed-2"]


def test_register_rewrites_the_models_artifacts_only_and_only_when_they_changed(tmp_path):
    registry = tmp_path / "dvc.yaml"
    text = (
        "# a comment that stays\nstages:\n  x:\n    cmd: echo  # and this one\nartifacts:\n"
        "  my-data:\n    path: data/prepared\n    type: dataset\n"
    )
    registry.write_text(text)
    assert register.register(registry, register.artifacts(["a"], [1], PATTERN), PATTERN)
    written = registry.read_text()
    head = text[: text.index("artifacts:")]
    assert written.startswith(head) and list(safe_load(written)["artifacts"]) == ["my-data", "a-1"]
    mtime = registry.stat().st_mtime_ns
    assert not register.register(registry, register.artifacts(["a"], [1], PATTERN), PATTERN)
    assert registry.stat().st_mtime_ns == mtime
    assert register.register(registry, register.artifacts(["b"], [1], PATTERN), PATTERN)
    assert list(safe_load(registry.read_text())["artifacts"]) == ["my-data", "b-1"]
    assert register.register(registry, {}, PATTERN)
    assert registry.read_text() == text


def test_stage_declares_every_run(tmp_path, monkeypatch):
    build_project(tmp_path, ["deep", "wide"], seeds=(42, 43))
    (tmp_path / "dvc.yaml").write_bytes((PROJECT / "dvc.yaml").read_bytes())
    monkeypatch.chdir(tmp_path)
    run_stage_in_process("register")
    declared = safe_load(Path("dvc.yaml").read_text())
    assert list(declared["artifacts"]) == ["deep-42", "deep-43", "wide-42", "wide-43"]
    assert declared["stages"] == safe_load((PROJECT / "dvc.yaml").read_text())["stages"]


def test_the_rest_of_dvc_yaml_keeps_its_bytes(tmp_path):
    # The hand-wrapped commands and comments of the project's dvc.yaml are not rewrapped.
    registry = tmp_path / "dvc.yaml"
    original = (PROJECT / "dvc.yaml").read_text()
    registry.write_text(original)
    assert register.register(registry, register.artifacts(["x"], [7], PATTERN), PATTERN)
    written = registry.read_text()
    before = original[: original.index("\nartifacts:")]
    assert written.startswith(before) and list(safe_load(written)["artifacts"]) == ["x-7"]
    assert safe_load(written)["stages"] == safe_load(original)["stages"]
