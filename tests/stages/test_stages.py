"""The prepare, train and evaluate stages' main() on tiny synthetic data in a temporary folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from stages import evaluate, prepare, train
from stages.common.prepared import load_split
from stages.common.runner import run_stage
from tests.support.synthetic import make_workspace, small_params, synthetic_images

ARCH_ARGS = "data/prepared data/models/{arch}.npz reports/history/{arch}.csv reports/train/{arch}.json"
EVAL_ARGS = (
    "data/prepared data/models/{arch}.npz reports/metrics/{arch}.json "
    "reports/predictions/{arch}.csv reports/classification/{arch}.txt"
)


def run(monkeypatch, module, args: str) -> None:
    """Run a stage's main() as `python -m stages.<module> args` would, errors included."""
    run_stage(module.main, module.__name__, args.split())


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    make_workspace(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_pipeline(monkeypatch, arch: str = "tiny") -> None:
    run(monkeypatch, prepare, "data/raw data/prepared")
    run(monkeypatch, train, f"{arch} " + ARCH_ARGS.format(arch=arch))
    run(monkeypatch, evaluate, f"{arch} " + EVAL_ARGS.format(arch=arch))


def test_pipeline_writes_every_declared_output(workspace, monkeypatch):
    # prepare -> train -> evaluate produce the files dvc.yaml declares, with the expected keys.
    run_pipeline(monkeypatch)
    X_train, y_train = load_split("data/prepared", "train")
    X_test, _ = load_split("data/prepared", "test")
    assert X_train.shape == (320, 784) and X_test.shape == (80, 784)
    assert 0 <= X_train.min() and X_train.max() <= 1
    history = (workspace / "reports/history/tiny.csv").read_text().splitlines()
    columns = "epoch,learning_rate,loss,train_loss,train_accuracy,test_loss,test_accuracy"
    assert history[0] == columns and len(history) == 1 + 3
    assert set(json.loads((workspace / "reports/train/tiny.json").read_text())) == {
        "epochs",
        "n_parameters",
        "train_loss",
        "train_accuracy",
        "selected_epoch",
    }
    metrics = json.loads((workspace / "reports/metrics/tiny.json").read_text())
    assert {"accuracy", "loss", "macro_f1", "weighted_f1", "per_class"} <= set(metrics)
    assert set(metrics["per_class"]) == {str(label) for label in range(10)}
    assert metrics["accuracy"] > 0.8  # the synthetic classes are easy
    predictions = (workspace / "reports/predictions/tiny.csv").read_text().splitlines()
    assert predictions[0] == "actual,predicted" and len(predictions) == 81
    assert "precision" in (workspace / "reports/classification/tiny.txt").read_text()


def test_metrics_files_share_one_schema(workspace, monkeypatch):
    # Every architecture's metrics file has the same keys, so `dvc metrics show` stays dense.
    run_pipeline(monkeypatch, "tiny")
    run_pipeline(monkeypatch, "small")
    keys = [set(json.loads((workspace / f"reports/metrics/{a}.json").read_text())) for a in ("tiny", "small")]
    assert keys[0] == keys[1]


def test_training_is_bit_reproducible(workspace, monkeypatch):
    # Same params and seed give byte-identical model, history and metrics files.
    run_pipeline(monkeypatch)
    outputs = ["data/models/tiny.npz", "reports/history/tiny.csv", "reports/metrics/tiny.json"]
    first = {path: (workspace / path).read_bytes() for path in outputs}
    run_pipeline(monkeypatch)
    assert {path: (workspace / path).read_bytes() for path in outputs} == first


def test_validation_set_selects_the_epoch_and_augmentation_runs(tmp_path, monkeypatch):
    # With a validation split the history gains val columns and the kept epoch is the best on
    # validation; shift augmentation trains without error.
    params = small_params(shift_pixels=2, epochs=4)
    params["prepare"]["validation_size"] = 60
    make_workspace(tmp_path, params)
    monkeypatch.chdir(tmp_path)
    run_pipeline(monkeypatch)
    rows = (tmp_path / "reports/history/tiny.csv").read_text().splitlines()
    assert rows[0].split(",")[-4:] == ["val_loss", "val_accuracy", "test_loss", "test_accuracy"]
    val_accuracy = [float(row.split(",")[-3]) for row in rows[1:]]
    selected = json.loads((tmp_path / "reports/train/tiny.json").read_text())["selected_epoch"]
    assert val_accuracy[selected - 1] == max(val_accuracy)
    assert len(load_split("data/prepared", "val")[1]) == 60


def test_notebook_split_matches_sklearn_recipe():
    # The default split is train_test_split(first N images, test_size, random_state) as in the notebook.
    from sklearn.model_selection import train_test_split

    images, labels = synthetic_images(50, 0)
    parts = prepare.split_data(
        (images, labels),
        (images[:5], labels[:5]),
        split="notebook",
        subset=40,
        test_fraction=0.2,
        validation_size=0,
        random_state=42,
    )
    expected = train_test_split(images[:40], labels[:40], test_size=0.2, random_state=42)
    assert np.array_equal(parts["train"][0], expected[0]) and np.array_equal(parts["test"][1], expected[3])


def test_official_split_with_validation_and_standardisation():
    # The official split keeps the given test set, carves validation from training, and
    # standardises with training statistics only.
    train_images, train_labels = synthetic_images(60, 0)
    test_images, test_labels = synthetic_images(20, 1)
    parts = prepare.split_data(
        (train_images, train_labels),
        (test_images, test_labels),
        split="official",
        subset=None,
        test_fraction=0.2,
        validation_size=10,
        random_state=0,
    )
    assert [len(parts[name][1]) for name in ("train", "val", "test")] == [50, 10, 20]
    scaled = prepare.scale(parts, "standardize")
    X_train = scaled["train"][0]
    varying = X_train.std(axis=0) > 0
    assert np.allclose(X_train.mean(axis=0), 0, atol=1e-5)
    assert np.allclose(X_train.std(axis=0)[varying], 1, atol=1e-4)
    assert not np.allclose(scaled["test"][0].mean(axis=0), 0, atol=1e-3)


@pytest.mark.parametrize(
    ("params_edit", "stage", "message"),
    [
        (lambda p: p["prepare"].update(subset=5000), "prepare", "has only 400 training images"),
        (lambda p: p["prepare"].update(validation_size=400), "prepare", "leaves no training images"),
        (lambda p: p["train"].update(batch_size=1000), "train", "larger than the 320 training samples"),
        (lambda p: p["train"].update(learning_rate=1.0e30), "train", "training diverged"),
        (
            lambda p: p["train"].update(optimizer="nesterov", momentum=0.0),
            "prepare",
            "optimizer 'nesterov' with momentum 0 is plain SGD",
        ),
        (lambda p: p["train"].update(epochs="ten"), "prepare", "train.epochs: must be an integer"),
    ],
)
def test_bad_settings_fail_cleanly_without_outputs(
    tmp_path, monkeypatch, capsys, params_edit, stage, message
):
    # Bad settings end with exit status 1, one message naming the problem, and no output file.
    params = small_params()
    params_edit(params)
    make_workspace(tmp_path, params)
    monkeypatch.chdir(tmp_path)
    if stage == "train":
        run(monkeypatch, prepare, "data/raw data/prepared")
    with pytest.raises(SystemExit) as caught:
        run_pipeline(monkeypatch)
    assert caught.value.code == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "data/models").exists() and not (tmp_path / "reports").exists()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "missing"])
def test_evaluate_refuses_a_damaged_model(workspace, monkeypatch, capsys, damage):
    # A bad model file is refused with its name and the command that rebuilds it; no metrics written.
    run(monkeypatch, prepare, "data/raw data/prepared")
    run(monkeypatch, train, "tiny " + ARCH_ARGS.format(arch="tiny"))
    model = workspace / "data/models/tiny.npz"
    if damage == "truncate":
        model.write_bytes(model.read_bytes()[:300])
    elif damage == "garbage":
        model.write_bytes(b"not a zip file" * 10)
    else:
        model.unlink()
    with pytest.raises(SystemExit):
        run(monkeypatch, evaluate, "tiny " + EVAL_ARGS.format(arch="tiny"))
    err = capsys.readouterr().err
    assert "data/models/tiny.npz" in err and "dvc repro --force train@tiny" in err
    assert not (workspace / "reports/metrics").exists()


def test_load_split_rejects_nan(workspace, monkeypatch):
    # Prepared arrays holding NaN are rejected before training, naming the file.
    from stages.common.prepared import save_split
    from stages.common.runner import StageError

    X = np.zeros((4, 784), dtype=np.float32)
    X[0, 0] = np.nan
    save_split(workspace / "data/prepared", "train", X, np.zeros(4, dtype=np.uint8))
    with pytest.raises(StageError, match="train.npz: X contains NaN"):
        load_split(workspace / "data/prepared", "train")


def test_params_written_by_yaml_dump_round_trip(workspace):
    # The workspace params stay valid after a YAML round trip (as `dvc exp run -S` rewrites it).
    from stages.common.params import load_params

    params = load_params(workspace / "params.yaml")
    (workspace / "params.yaml").write_text(yaml.safe_dump(params))
    assert load_params(workspace / "params.yaml") == params
