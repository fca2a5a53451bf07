"""The prepared-data contract: what the prepare stage writes and every later stage reads.

One .npz per split, `<split>.npz` holding X (n, N_FEATURES) float32 and y (n,) uint8: always
"train" and "test", and "val" exactly when params.yaml's prepare.validation_size is above 0
(`splits`). Files are read with allow_pickle=False; reading checks shapes, dtypes,
finiteness and labels so that bad arrays never reach training.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mlp.arrays import FloatArray, IntArray
from stages.common.mnist import N_CLASSES, N_FEATURES
from stages.common.output import open_output
from stages.common.runner import StageError

TRAIN, VALIDATION, TEST = "train", "val", "test"


def splits(validation_size: int) -> tuple[str, ...]:
    """The splits a prepared folder holds, given prepare.validation_size."""
    return (TRAIN, VALIDATION, TEST) if validation_size else (TRAIN, TEST)


def save_split(folder: str | Path, split: str, X: FloatArray, y: IntArray) -> None:
    """Write <folder>/<split>.npz holding X (n, n_features) float32 and y (n,) uint8."""
    assert X.ndim == 2 and y.shape == (len(X),)
    with open_output(Path(folder) / f"{split}.npz", "wb") as handle:
        np.savez(handle, X=X.astype(np.float32, copy=False), y=y.astype(np.uint8, copy=False))


def load_split(folder: str | Path, split: str) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Read and check one prepared split; raise StageError naming the file and the fix."""
    path = Path(folder) / f"{split}.npz"
    fix = "rerun `dvc repro prepare` (or delete data/prepared first)"
    try:
        with np.load(path, allow_pickle=False) as archive:
            X, y = archive["X"], archive["y"]
    except FileNotFoundError:
        raise StageError(f"{path} is missing; {fix}") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise StageError(f"{path} is unreadable or corrupt ({error}); {fix}") from None
    problem = _problem(X, y)
    if problem:
        raise StageError(f"{path}: {problem}; {fix}")
    return X, y.astype(np.int64)


def _problem(X: npt.NDArray[Any], y: npt.NDArray[Any]) -> str | None:
    if X.dtype != np.float32 or X.ndim != 2 or X.shape[0] == 0 or X.shape[1] != N_FEATURES:
        return f"X must be a non-empty float32 array of shape (n, {N_FEATURES}), got {X.dtype} {X.shape}"
    if y.dtype != np.uint8 or y.shape != (X.shape[0],):
        return f"y must be {X.shape[0]} uint8 labels, got {y.dtype} {y.shape}"
    if not np.isfinite(X).all():
        return "X contains NaN or inf"
    if y.max() >= N_CLASSES:
        return f"y holds label {y.max()}, outside 0..{N_CLASSES - 1}"
    return None
