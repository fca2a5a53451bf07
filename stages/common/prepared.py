"""The prepared-data contract: what the prepare stage writes and every later stage reads.

One .npz per split, `<split>.npz` holding X (n, N_FEATURES) float32 and y (n,) uint8: always
"train" and "test", and "val" exactly when params.yaml's prepare.validation_size is above 0
(`splits`). Files are read with mlp's bounded .npz reader (no pickle can load); reading
checks shapes, dtypes, finiteness and labels so that bad arrays never reach training. Beside
them, `scaling.npz` holds the scaling's per-pixel `mean` and `std` (float32, N_FEATURES each):
with MNIST's image shape and labels, the input contract every model file carries
(`input_contract`), so that a model can be used on new images outside the pipeline.

Beside the folder, `<folder>.json` (data/prepared.json) holds the prepare section of params.yaml
the folder was made with. A stage that records prepare params in dvc.lock checks them against it
(`check_made_with`): params.yaml edited while a `dvc repro` runs (say a refused `dvc exp run -S
prepare.subset=5000`) must not get the report recorded under a subset its data never had. It is
kept outside the folder so that a prepare change that leaves the arrays as they were (a
random_state the official split does not use) does not change the folder's hash and retrain.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mlp.archive import NPY_HEADER_BYTES, ArchiveError, NpzReader
from mlp.arrays import FloatArray, IntArray
from mlp.contract import InputContract
from mlp.reading import UnreadableFileError, read_json
from stages.common.mnist import IMAGE_SIDE, N_CLASSES, N_FEATURES, N_TEST, N_TRAIN
from stages.common.output import open_output, write_text
from stages.common.runner import StageError

TRAIN, VALIDATION, TEST = "train", "val", "test"
SCALING = "scaling"  # scaling.npz: the mean and std of the input contract
FIX = "rerun `dvc repro prepare` (or delete data/prepared first)"


def splits(validation_size: int) -> tuple[str, ...]:
    """The splits a prepared folder holds, given prepare.validation_size."""
    return (TRAIN, VALIDATION, TEST) if validation_size else (TRAIN, TEST)


def save_split(folder: str | Path, split: str, X: FloatArray, y: IntArray) -> None:
    """Write <folder>/<split>.npz holding X (n, n_features) float32 and y (n,) uint8."""
    assert X.ndim == 2 and y.shape == (len(X),)
    with open_output(Path(folder) / f"{split}.npz", "wb") as handle:
        np.savez(handle, X=X.astype(np.float32, copy=False), y=y.astype(np.uint8, copy=False))


def made_with_path(folder: str | Path) -> Path:
    """Where the settings of prepared folder `folder` are recorded: beside it, `<folder>.json`."""
    folder = Path(folder)
    return folder.with_name(f"{folder.name}.json")


def record_made_with(folder: str | Path, prepare: dict[str, Any]) -> None:
    """Record the prepare section of params.yaml the splits in `folder` were made with (floats
    unrounded, unlike write_json's, so that reading them back compares equal)."""
    write_text(made_with_path(folder), json.dumps(prepare, indent=2, sort_keys=True) + "\n")


def check_made_with(folder: str | Path, prepare: dict[str, Any], keys: tuple[str, ...] | None = None) -> None:
    """Refuse prepared data made with other prepare settings (`keys` only, if given) than `prepare`."""
    path = made_with_path(folder)
    fix = "run `dvc repro` again (it prepares the data again first)"
    try:
        made = read_json(path)
    except FileNotFoundError:
        raise StageError(f"{path} is missing, so nothing says how {folder} was made; {fix}") from None
    except UnreadableFileError as error:
        raise StageError(f"{path} is unreadable: it {error}; {fix}") from None
    except (OSError, ValueError) as error:
        raise StageError(f"{path} is unreadable ({error}); {fix}") from None
    if not isinstance(made, dict):
        raise StageError(f"{path} does not hold prepare's settings; {fix}")
    differ = [key for key in keys or sorted(set(made) | set(prepare)) if made.get(key) != prepare.get(key)]
    if differ:
        said = ", ".join(f"{key} {made.get(key)!r} (params.yaml: {prepare.get(key)!r})" for key in differ)
        raise StageError(
            f"{folder} was prepared with other settings than params.yaml's prepare section: {said}. Was "
            f"params.yaml changed while the pipeline ran? Then {fix}"
        )


def input_contract(
    scaling: str, mean: FloatArray | None = None, std: FloatArray | None = None
) -> InputContract:
    """MNIST's input contract: 28x28 images, labels "0".."9", and the scaling (unit: no mean and std)."""
    unit = InputContract.unit((IMAGE_SIDE, IMAGE_SIDE), [str(label) for label in range(N_CLASSES)])
    if mean is None or std is None:
        return unit
    return InputContract(unit.shape, unit.labels, scaling, mean, std)


def save_contract(folder: str | Path, contract: InputContract) -> None:
    """Write <folder>/scaling.npz: the contract's mean and std."""
    with open_output(Path(folder) / f"{SCALING}.npz", "wb") as handle:
        np.savez(handle, mean=contract.mean, std=contract.std)


def load_contract(folder: str | Path) -> InputContract:
    """The input contract of the prepared data in `folder`: unit scaling when mean is 0 and std 1."""
    path = Path(folder) / f"{SCALING}.npz"
    try:
        with NpzReader(
            path, "a prepared scaling", 2 * (N_FEATURES * 4 + NPY_HEADER_BYTES), max_members=2
        ) as npz:
            mean, std = (npz.read(name, [np.float32], [N_FEATURES]) for name in ("mean", "std"))
        unit = not mean.any() and bool((std == 1).all())
        return input_contract("unit" if unit else "standardize", mean, std)
    except FileNotFoundError:
        raise StageError(f"{path} is missing; {FIX}") from None
    except (ArchiveError, ValueError) as error:
        raise StageError(f"{path}: {error}; {FIX}") from None


def load_split(folder: str | Path, split: str) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Read and check one prepared split; raise StageError naming the file and the fix.

    Read with mlp's bounded reader, never np.load: a forged header (10**9 rows) or a zip that
    inflates to gigabytes is refused before anything that size is allocated.
    """
    path = Path(folder) / f"{split}.npz"
    fix = FIX
    try:
        with NpzReader(path, "a prepared split", MAX_SPLIT_BYTES, max_members=2) as npz:
            X = npz.read("X", [np.float32], [MAX_ROWS, N_FEATURES])
            y = npz.read("y", [np.uint8], [MAX_ROWS])
    except FileNotFoundError:
        raise StageError(f"{path} is missing; {fix}") from None
    except ArchiveError as error:
        raise StageError(f"{path}: {error}; {fix}") from None
    problem = _problem(X, y)
    if problem:
        raise StageError(f"{path}: {problem}; {fix}")
    return X, y.astype(np.int64)


MAX_ROWS = N_TRAIN + N_TEST  # no split holds more images than MNIST has
MAX_SPLIT_BYTES = MAX_ROWS * (N_FEATURES * 4 + 1) + 2 * NPY_HEADER_BYTES
MAX_ABS_FEATURE = 1e6  # prepare's scalings stay far inside this (standardising divides by >= 1e-6)


def _problem(X: npt.NDArray[Any], y: npt.NDArray[Any]) -> str | None:
    if X.shape[0] < 1 or X.shape[1] != N_FEATURES:
        return f"X has shape {X.shape}; expected at least 1 row of {N_FEATURES} features"
    if y.shape != (X.shape[0],):
        return f"y must be {X.shape[0]} uint8 labels, got {y.dtype} {y.shape}"
    largest = float(np.abs(X).max())  # NaN propagates
    if not math.isfinite(largest):
        return "X contains NaN or inf"
    if largest > MAX_ABS_FEATURE:
        return f"X holds values up to {largest:.3g}, beyond the ±{MAX_ABS_FEATURE:g} prepare's scalings give"
    if y.max() >= N_CLASSES:
        return f"y holds label {y.max()}, outside 0..{N_CLASSES - 1}"
    return None
