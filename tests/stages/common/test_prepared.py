"""The prepared-data contract: which splits exist, and refusal of damaged arrays before training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stages.common.prepared import splits
from tests.support.pickles import UNPICKLED, Sentinel
from tests.support.stages import failing_stage, snapshot


def test_validation_split_exists_exactly_when_params_ask_for_it():
    # prepare.validation_size decides whether a "val" split is written and read, nothing else.
    assert splits(0) == ("train", "test")
    assert splits(500) == ("train", "val", "test")


def _damage_split(path: Path, kind: str) -> None:
    """Rewrite the prepared split at `path` with one kind of damage."""
    with np.load(path) as archive:
        X, y = archive["X"].copy(), archive["y"].copy()
    if kind == "missing":
        path.unlink()
        return
    if kind == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        return
    changes = {
        "NaN": lambda: X.__setitem__((0, 0), np.nan),
        "inf": lambda: X.__setitem__((3, 7), -np.inf),
        "float64": lambda: {"X": X.astype(np.float64)},
        "783 features": lambda: {"X": X[:, :783]},
        "1-D X": lambda: {"X": X.ravel()},
        "labels short": lambda: {"y": y[:-1]},
        "label 10": lambda: y.__setitem__(0, 10),
        "int64 labels": lambda: {"y": y.astype(np.int64)},
        "pickled": lambda: {"X": np.array([Sentinel()], dtype=object)},
    }
    arrays = {"X": X, "y": y, **(changes[kind]() or {})}
    np.savez(path, allow_pickle=True, **arrays)


PREPARED_CASES = {
    "NaN": "X contains NaN or inf",
    "inf": "X contains NaN or inf",
    "float64": "X must be a non-empty float32 array of shape (n, 784), got float64",
    "783 features": "got float32 (320, 783)",
    "1-D X": "got float32 (250880,)",
    "labels short": "y must be 320 uint8 labels, got uint8 (319,)",
    "label 10": "y holds label 10, outside 0..9",
    "int64 labels": "y must be 320 uint8 labels, got int64",
    "pickled": "unreadable or corrupt",
    "truncated": "unreadable or corrupt",
    "missing": "is missing",
}


@pytest.mark.parametrize(("kind", "expected"), PREPARED_CASES.items(), ids=PREPARED_CASES.keys())
def test_damaged_prepared_data_is_rejected_before_training(workspace, capsys, kind, expected):
    # Bad prepared arrays stop train before training, naming the file and the fix; earlier outputs kept.
    _damage_split(workspace / "data/prepared/train.npz", kind)
    before = snapshot(workspace)
    UNPICKLED.clear()
    message = failing_stage("train", capsys)
    assert "data/prepared/train.npz" in message and expected in message
    assert "rerun `dvc repro prepare`" in message
    assert snapshot(workspace) == before and UNPICKLED == []
