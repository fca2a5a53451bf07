"""The train stage: its declared outputs, bit-reproducible training, epoch selection, and clean failure."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

import mlp
from mlp.augment import elastic_distortions, random_shifts
from stages import prepare
from stages.common.mnist import load_mnist_split
from stages.common.prepared import load_split
from stages.common.progress import LiveHistory
from stages.train import augmenter
from tests.support.stages import (
    failing_stage,
    params_text,
    run_pipeline,
    run_stage_in_process,
    snapshot,
    tiny_params,
)
from tests.support.synthetic import make_workspace

SPLIT_KEYS = ("split", "subset", "test_fraction", "validation_size", "random_state")


def test_stage_writes_every_declared_output(fresh):
    # train writes the model, the per-epoch history, and the run's facts with its training time.
    run_stage_in_process("prepare")
    run_stage_in_process("train")
    history = (fresh / "reports/history/tiny-42.csv").read_text().splitlines()
    assert history[0] == "epoch,learning_rate,loss,train_loss,train_accuracy,test_loss,test_accuracy"
    assert len(history) == 1 + 3
    metrics = json.loads((fresh / "reports/train/tiny-42.json").read_text())
    assert set(metrics) == {"n_parameters", "train_accuracy", "selected_epoch", "train_seconds"}
    assert metrics["selected_epoch"] == 3  # no validation set: the last epoch is kept
    assert metrics["train_seconds"] >= 0
    assert (fresh / "data/models/tiny-42.npz").stat().st_size > 0


def test_while_it_trains_the_live_file_holds_the_epochs_so_far_then_goes(fresh, monkeypatch):
    # What DVC's tools read after each epoch: the tracked history's header and rows so far; after
    # the run, nothing (the tracked history has it all).
    seen = []
    append = LiveHistory.__call__

    def watched(self: LiveHistory, record: dict) -> None:
        append(self, record)
        seen.append((fresh / "live/tiny-42.csv").read_text().splitlines())

    monkeypatch.setattr(LiveHistory, "__call__", watched)
    run_stage_in_process("prepare")
    run_stage_in_process("train")
    history = (fresh / "reports/history/tiny-42.csv").read_text().splitlines()
    assert seen == [history[: 1 + epoch] for epoch in (1, 2, 3)]
    assert list((fresh / "live").iterdir()) == []


def test_live_progress_never_changes_the_training_even_when_it_cannot_be_written(fresh):
    run_stage_in_process("prepare")
    run_stage_in_process("train")
    first = snapshot(fresh)
    (fresh / "live").rmdir()
    (fresh / "live").write_text("a file where the folder should be")
    run_stage_in_process("train")
    second = snapshot(fresh)
    changed = [path for path in first if first[path] != second[path]]
    assert changed in ([], ["reports/train/tiny-42.json"]), changed  # the training time, and only it


def test_training_is_bit_reproducible(fresh):
    # Same params and seed give byte-identical model, history and metrics: only the time may differ.
    run_pipeline()
    first = snapshot(fresh)
    run_pipeline()
    second = snapshot(fresh)
    assert first.keys() == second.keys()
    changed = [path for path in first if first[path] != second[path]]
    assert changed in ([], ["reports/train/tiny-42.json"]), changed
    if changed:  # the training time, and only it
        facts = [json.loads(snapshot[changed[0]]) for snapshot in (first, second)]
        assert [f | {"train_seconds": 0} for f in facts] == [facts[1] | {"train_seconds": 0}] * 2


def test_validation_set_selects_the_epoch_and_augmentation_runs(tmp_path, monkeypatch):
    # With a validation split the history gains val columns and the kept epoch is the best on
    # validation; shifts followed by elastic distortions train without error.
    params = tiny_params(shift_pixels=2, elastic_alpha=20.0, rotate_degrees=5.0, epochs=4)
    params["prepare"]["validation_size"] = 60
    make_workspace(tmp_path, params)
    monkeypatch.chdir(tmp_path)
    run_pipeline()
    rows = (tmp_path / "reports/history/tiny-42.csv").read_text().splitlines()
    assert rows[0].split(",")[-4:] == ["val_loss", "val_accuracy", "test_loss", "test_accuracy"]
    val_accuracy = [float(row.split(",")[-3]) for row in rows[1:]]
    selected = json.loads((tmp_path / "reports/train/tiny-42.json").read_text())["selected_epoch"]
    assert val_accuracy[selected - 1] == max(val_accuracy)
    assert len(load_split("data/prepared", "val")[1]) == 60


def test_augmenter_applies_shifts_then_distortions_and_nothing_when_off():
    # Each augmentation key switches its step on; with both, the shifted batch is then distorted,
    # every draw from the one Generator, so the result is reproducible.
    off = {"shift_pixels": 0, "elastic_alpha": 0.0, "elastic_sigma": 4.0, "rotate_degrees": 0.0}
    assert augmenter(off) is None
    images = np.random.default_rng(0).random((8, 784)).astype(np.float32)
    both = augmenter(off | {"shift_pixels": 2, "elastic_alpha": 34.0})
    rng = np.random.default_rng(1)
    expected = elastic_distortions(28, 34.0, 4.0)(random_shifts(28, 2)(images, rng), rng)
    assert np.array_equal(both(images, np.random.default_rng(1)), expected)
    rotated = augmenter(off | {"rotate_degrees": 10.0})(images, np.random.default_rng(1))
    assert np.array_equal(rotated, elastic_distortions(28, 0.0, 4.0, 10.0)(images, np.random.default_rng(1)))


def test_a_stale_validation_file_is_not_used(fresh):
    # Whether a validation set exists comes from params.yaml, not from a file left in data/prepared.
    run_stage_in_process("prepare")
    shutil.copy(fresh / "data/prepared/train.npz", fresh / "data/prepared/val.npz")
    run_stage_in_process("train")
    assert "val_accuracy" not in (fresh / "reports/history/tiny-42.csv").read_text()


@pytest.mark.parametrize(
    ("train", "message"),
    [
        ({"batch_size": 1000}, "is larger than the 320 training"),
        ({"learning_rate": 1.0e30}, "training diverged"),
    ],
)
def test_settings_the_data_cannot_take_fail_without_outputs(workspace, capsys, train, message):
    # A batch larger than the data or a diverging run ends with exit 1 and the fix; outputs unchanged.
    (workspace / "params.yaml").write_text(params_text(tiny_params(**train)))
    before = snapshot(workspace)
    assert message in failing_stage("train", capsys)
    assert snapshot(workspace) == before


@pytest.mark.parametrize("scaling", ["unit", "standardize"])
def test_a_model_file_classifies_raw_pixels_as_evaluate_did(tmp_path, monkeypatch, scaling):
    # The model file carries its input contract: outside the pipeline, the raw test pixels scaled
    # by it are the prepared test set bit for bit, and give evaluate's predictions, every one.
    params = tiny_params()
    params["prepare"]["scaling"] = scaling
    make_workspace(tmp_path, params)
    monkeypatch.chdir(tmp_path)
    run_pipeline()
    classifier = mlp.load_classifier("data/models/tiny-42.npz")
    assert (classifier.contract.shape, classifier.contract.scaling) == ((28, 28), scaling)
    assert classifier.contract.labels == tuple("0123456789")
    raw = load_mnist_split("data/raw", "train"), load_mnist_split("data/raw", "t10k")
    settings = {key: params["prepare"][key] for key in SPLIT_KEYS}
    test_images, _ = prepare.split_data(*raw, **settings)["test"]
    X_test, _ = load_split("data/prepared", "test")
    assert classifier.contract.features(test_images).tobytes() == X_test.tobytes()
    with open("reports/predictions/tiny-42.csv") as handle:
        evaluated = [int(row["predicted"]) for row in csv.DictReader(handle)]
    assert classifier.predict_proba(test_images).argmax(axis=1).tolist() == evaluated
