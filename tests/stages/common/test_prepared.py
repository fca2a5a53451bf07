"""The prepared-data contract: which splits exist, and refusal of damaged arrays before training."""

from __future__ import annotations

import io
import zipfile
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
    if kind == ".npy":  # np.save's single array, under the .npz name
        with path.open("wb") as handle:
            np.save(handle, X)
        return
    if kind in ("10**9 rows", "zip bomb"):
        _forge(path, kind, X, y)
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
        "huge values": lambda: X.__setitem__((1, 2), 3.0e38),
    }
    arrays = {"X": X, "y": y, **(changes[kind]() or {})}
    np.savez(path, allow_pickle=True, **arrays)


def _forge(path: Path, kind: str, X: np.ndarray, y: np.ndarray) -> None:
    """An archive whose X header claims 10**9 rows, or whose X inflates to 100 times the real rows."""
    rows = 10**9 if kind == "10**9 rows" else 100 * len(X)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (rows, 784)}
    )
    body = header.getvalue() + (X.tobytes() if kind == "10**9 rows" else bytes(rows * 784 * 4))
    labels = io.BytesIO()
    np.save(labels, y)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("X.npy", body)
        archive.writestr("y.npy", labels.getvalue())


PREPARED_CASES = {
    "NaN": "X contains NaN or inf",
    "inf": "X contains NaN or inf",
    "huge values": "X holds values up to 3e+38, beyond the ±1e+06 prepare's scalings give",
    "float64": "X must be a 2-D float32 array, got float64 (320, 784)",
    "783 features": "X declares shape (320, 783); expected 1 to 70000 rows of 784 features",
    "1-D X": "X must be a 2-D float32 array, got float32 (250880,)",
    "labels short": "y must be 320 uint8 labels, got uint8 (319,)",
    "label 10": "y holds label 10, outside 0..9",
    "int64 labels": "y must be a 1-D uint8 array, got int64 (320,)",
    "pickled": "X must be a 2-D float32 array, got object (1,)",
    "10**9 rows": "X declares shape (1000000000, 784); expected 1 to 70000 rows",
    # 100 MB of zeros from a 100 kB file: read (it is within the row limit), then refused.
    "zip bomb": "y must be 32000 uint8 labels, got uint8 (320,)",
    ".npy": "is a single .npy array, not the .npz archive of X and y that prepare writes",
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
