"""The prepare stage: the notebook and official splits, scaling, and refusal of bad raw files or sizes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from stages import prepare
from stages.common.mnist import encode_idx, parse_idx
from stages.common.prepared import load_split, made_with_path, splits
from tests.support import yaml12 as yaml
from tests.support.stages import failing_stage, params_text, run_stage_in_process, snapshot, tiny_params
from tests.support.synthetic import synthetic_images


def test_notebook_split_matches_sklearn_recipe():
    # The default split is train_test_split(first N images, test_size, random_state) as in the notebook.
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
    assert tuple(parts) == splits(0)


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
    assert [len(parts[name][1]) for name in splits(10)] == [50, 10, 20]
    scaled, _ = prepare.scale(parts, "standardize")
    X_train = scaled["train"][0]
    varying = X_train.std(axis=0) > 0
    assert np.allclose(X_train.mean(axis=0), 0, atol=1e-5)
    assert np.allclose(X_train.std(axis=0)[varying], 1, atol=1e-4)
    assert not np.allclose(scaled["test"][0].mean(axis=0), 0, atol=1e-3)


def test_stage_writes_the_splits_params_name(fresh):
    # prepare writes exactly the splits of the data contract, flattened and scaled to [0, 1], and
    # the prepare settings it made them with.
    run_stage_in_process("prepare")
    written = sorted(path.name for path in (fresh / "data/prepared").iterdir())
    assert written == sorted(f"{split}.npz" for split in (*splits(0), "scaling"))
    made_with = json.loads(made_with_path(fresh / "data/prepared").read_text())
    assert made_with == yaml.safe_load((fresh / "params.yaml").read_text())["prepare"]
    X_train, _ = load_split("data/prepared", "train")
    X_test, _ = load_split("data/prepared", "test")
    assert X_train.shape == (320, 784) and X_test.shape == (80, 784)
    assert 0 <= X_train.min() and X_train.max() <= 1


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"subset": 5000}, "has only 400 training images"),
        ({"validation_size": 400}, "leaves no training images"),
        (
            {"subset": 1},
            "prepare.subset 1 with prepare.test_fraction 0.2 leaves 0 training and 1 test images",
        ),
    ],
)
def test_sizes_the_data_cannot_give_are_refused(fresh, capsys, edit, message):
    # A subset or validation size larger than the data ends prepare with the fix, writing nothing.
    params = tiny_params()
    params["prepare"].update(edit)
    (fresh / "params.yaml").write_text(params_text(params))
    assert message in failing_stage("prepare", capsys)
    assert not (fresh / "data/prepared").exists()


def _damage_raw(raw, kind: str) -> str:
    """Damage one file in data/raw as a bad source or a hand edit could; return the file's name."""
    images, labels = raw / "train-images-idx3-ubyte", raw / "train-labels-idx1-ubyte"
    if kind == "wrong magic":
        images.write_bytes(b"\x1f\x8b" + images.read_bytes()[2:])  # e.g. still gzip-compressed
    elif kind == "dims vs length":
        images.write_bytes(images.read_bytes()[:-100])
    elif kind == "count mismatch":
        labels.write_bytes(encode_idx(parse_idx(labels.read_bytes(), "labels")[:-1]))
    elif kind == "label 10":
        data = bytearray(labels.read_bytes())
        data[-1] = 10
        labels.write_bytes(bytes(data))
    return (labels if kind in ("count mismatch", "label 10") else images).name


RAW_CASES = {
    "wrong magic": "bad magic number 0x1f8b0803; IDX starts with two zero bytes",
    "dims vs length": "header shape (400, 28, 28) needs 313600 data bytes but 313500 follow",
    "count mismatch": "holds 400 images but data/raw/train-labels-idx1-ubyte 399 labels",
    "label 10": "label 10 outside 0..9",
}


@pytest.mark.parametrize(("kind", "expected"), RAW_CASES.items(), ids=RAW_CASES.keys())
def test_damaged_raw_file_stops_prepare_naming_it(workspace, capsys, kind, expected):
    # A malformed IDX file in data/raw stops prepare with one message naming it and the fix; nothing changes.
    # (From a mirror such files fail the SHA-256 check first: tests/stages/test_fetch.py.)
    name = _damage_raw(workspace / "data/raw", kind)
    before = snapshot(workspace)
    message = failing_stage("prepare", capsys)
    assert f"data/raw/{name}" in message and expected in message
    assert "delete data/raw and rerun `dvc repro fetch`" in message
    assert snapshot(workspace) == before
