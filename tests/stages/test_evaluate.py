"""The evaluate stage: metrics, predictions and classification report, and refusal of bad models."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

import mlp
from stages.common.prepared import load_split
from stages.evaluate import score
from tests.support.pickles import UNPICKLED, Sentinel
from tests.support.stages import failing_stage, run_pipeline, snapshot
from tests.support.synthetic import make_workspace, small_params


def test_stage_writes_metrics_predictions_and_report(fresh):
    # evaluate writes the few metrics people compare (what `dvc exp show` lists), the per-class
    # scores apart, one prediction per test image with its probability, and the classification
    # report; the predictions agree with the model and the metrics.
    run_pipeline()
    metrics = json.loads((fresh / "reports/metrics/tiny-42.json").read_text())
    assert set(metrics) == {"accuracy", "accuracy_low", "accuracy_high", "loss"}
    assert metrics["accuracy_low"] < metrics["accuracy"] <= metrics["accuracy_high"] <= 1
    classes = json.loads((fresh / "reports/classes/tiny-42.json").read_text())
    assert set(classes["per_class"]) == {str(label) for label in range(10)} and "weighted_f1" in classes
    assert metrics["accuracy"] > 0.8  # the synthetic classes are easy
    with open(fresh / "reports/predictions/tiny-42.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["actual", "predicted", "probability"] and len(rows) == 80
    X_test, y_test = load_split("data/prepared", "test")
    model, _ = mlp.load_model("data/models/tiny-42.npz")
    probabilities = model.predict_proba(X_test)
    assert [int(row["actual"]) for row in rows] == y_test.tolist()
    assert [int(row["predicted"]) for row in rows] == model.predict(X_test).tolist()
    shown = [float(row["probability"]) for row in rows]
    np.testing.assert_allclose(shown, probabilities.max(axis=1), atol=1e-6)  # rounded to 6 decimals
    assert np.mean([row["actual"] == row["predicted"] for row in rows]) == metrics["accuracy"]
    assert "precision" in (fresh / "reports/classification/tiny-42.txt").read_text()


def test_metrics_files_share_one_schema(tmp_path, monkeypatch):
    # Every architecture's metrics file has the same keys, so `dvc metrics show` stays dense.
    make_workspace(tmp_path, small_params())
    monkeypatch.chdir(tmp_path)
    run_pipeline("tiny")
    run_pipeline("small")
    keys = [
        set(json.loads((tmp_path / f"reports/metrics/{a}-42.json").read_text())) for a in ("tiny", "small")
    ]
    assert keys[0] == keys[1]


def _model_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as archive:
        return {name: archive[name] for name in archive.files}


def _forged_size_member(shape: tuple[int, ...]) -> bytes:
    """A .npy member whose header claims `shape` (float32) but that holds only 64 bytes."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return header.getvalue() + bytes(64)


def _damage_model(path: Path, kind: str) -> None:
    """Remove the model file at `path`, or replace it with a tampered one."""
    if kind == "missing":
        path.unlink()
    elif kind == "pickled":
        np.savez(
            path, allow_pickle=True, **(_model_arrays(path) | {"W0": np.array([Sentinel()], dtype=object)})
        )
    else:  # a member whose header claims 4 TiB but that holds 64 bytes
        with zipfile.ZipFile(path) as archive:
            members = {name: archive.read(name) for name in archive.namelist()}
        members["W0.npy"] = _forged_size_member((2**40,))
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in members.items():
                archive.writestr(name, data)


# The library's tests cover every kind of damage (tests/mlp/test_persistence.py); these check
# what the stage adds: the message names the rebuild, no code from the file runs, nothing changes.
MODEL_CASES = {
    "missing": "no such model file",
    "pickled": "array W0 has shape (1,) and dtype object; expected float32",
    "huge declared size": "array W0 has shape (1099511627776,) and dtype float32; expected float32 of at",
}


@pytest.mark.parametrize(("kind", "expected"), MODEL_CASES.items(), ids=MODEL_CASES.keys())
def test_a_damaged_or_tampered_model_is_refused_without_running_its_code(workspace, capsys, kind, expected):
    # A bad model is refused naming it and its rebuild, running none of its code; earlier outputs kept.
    _damage_model(workspace / "data/models/tiny-42.npz", kind)
    before = snapshot(workspace)
    UNPICKLED.clear()
    message = failing_stage("evaluate", capsys)
    assert message.startswith("evaluate: error: data/models/tiny-42.npz: ") and expected in message
    assert "rebuild it with `dvc repro --force --single-item train@tiny-42`, then `dvc repro`" in message
    assert snapshot(workspace) == before and UNPICKLED == []


@pytest.mark.parametrize("n_outputs", [5, 20])
def test_a_model_with_other_than_ten_outputs_is_refused(workspace, capsys, n_outputs):
    # A consistent model with 20 outputs would write classes 10..19; with 5 it cannot score MNIST.
    mlp.save_model(
        mlp.MLP([784, 16, n_outputs], np.random.default_rng(0)), workspace / "data/models/tiny-42.npz"
    )
    before = snapshot(workspace)
    message = failing_stage("evaluate", capsys)
    assert f"data/models/tiny-42.npz maps 784 inputs to {n_outputs} classes" in message
    assert "rebuild it with `dvc repro --force --single-item train@tiny-42`, then `dvc repro`" in message
    assert snapshot(workspace) == before


def test_the_test_set_goes_forward_once(monkeypatch):
    # Metrics, predictions and probabilities all come from one pass over the test set (it was three).
    model = mlp.MLP([6, 5, 10], np.random.default_rng(0))
    X = np.random.default_rng(1).random((50, 6), dtype=np.float32)
    y = np.random.default_rng(2).integers(0, 10, 50)
    passes = []
    forward = mlp.MLP.forward

    def counted(self, X, *args, **kwargs):
        passes.append(len(X))
        return forward(self, X, *args, **kwargs)

    monkeypatch.setattr(mlp.MLP, "forward", counted)
    metrics, _, predicted, probability = score(model, X, y)
    assert passes == [50]
    monkeypatch.undo()
    assert metrics["accuracy"] == mlp.evaluate(model, X, y)["accuracy"]
    assert metrics["loss"] == mlp.evaluate(model, X, y)["loss"]
    np.testing.assert_array_equal(predicted, model.predict(X))
    np.testing.assert_array_equal(probability, model.predict_proba(X).max(axis=1))
