"""The prepared-data contract: what the prepare stage writes and every later stage reads.

One .npz per split, `<split>.npz` holding X (n, N_FEATURES) float32 and y (n,) uint8: always
"train" and "test", and "val" exactly when params.yaml's prepare.validation_size is above 0
(`splits`). Files are read with allow_pickle=False; reading checks shapes, dtypes,
finiteness and labels so that bad arrays never reach training. Beside them, `scaling.npz` holds
the scaling's per-pixel `mean` and `std` (float32, N_FEATURES each): with MNIST's image shape and
labels, the input contract every model file carries (`input_contract`), so that a model can be
used on new images outside the pipeline.

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
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

import mlp
from mlp.arrays import FloatArray, IntArray
from stages.common.mnist import IMAGE_SIDE, N_CLASSES, N_FEATURES, N_TEST, N_TRAIN
from stages.common.output import open_output, write_text
from stages.common.runner import StageError

TRAIN, VALIDATION, TEST = "train", "val", "test"
SCALING = "scaling"  # scaling.npz: the mean and std of the input contract
NPY_MAGIC = b"\x93NUMPY"
HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def splits(validation_size: int) -> tuple[str, ...]:
    """The splits a prepared folder holds, given prepare.validation_size."""
    return (TRAIN, VALIDATION, TEST) if validation_size else (TRAIN, TEST)


def save_split(folder: str | Path, split: str, X: FloatArray, y: IntArray) -> None:
    """Write <folder>/<split>.npz holding X (n, n_features) float32 and y (n,) uint8."""
    assert X.ndim == 2 and y.shape == (len(X),)
    with open_output(Path(folder) / f"{split}.npz", "wb") as handle:
        np.savez(handle, X=X.astype(np.float32, copy=False), y=y.astype(np.uint8, copy=False))


def input_contract(
    scaling: str, mean: FloatArray | None = None, std: FloatArray | None = None
) -> mlp.InputContract:
    """MNIST's input contract: 28x28 images, labels "0".."9", and the scaling (unit: no mean and std)."""
    labels = [str(label) for label in range(N_CLASSES)]
    unit = mlp.InputContract.unit((IMAGE_SIDE, IMAGE_SIDE), labels)
    if mean is None or std is None:
        return unit
    return mlp.InputContract(unit.shape, unit.labels, scaling, mean, std)


def save_contract(folder: str | Path, contract: mlp.InputContract) -> None:
    """Write <folder>/scaling.npz: the contract's mean and std."""
    with open_output(Path(folder) / f"{SCALING}.npz", "wb") as handle:
        np.savez(handle, mean=contract.mean, std=contract.std)


def load_contract(folder: str | Path) -> mlp.InputContract:
    """The input contract of the prepared data in `folder`: unit scaling when mean is 0 and std 1."""
    path = Path(folder) / f"{SCALING}.npz"
    mean, std = (_read_checked(path, name) for name in ("mean", "std"))
    unit = not mean.any() and bool((std == 1).all())
    try:
        return input_contract("unit" if unit else "standardize", mean, std)
    except ValueError as error:
        raise StageError(f"{path}: {error}; {FIX}") from None


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
        made = json.loads(path.read_text())
    except FileNotFoundError:
        raise StageError(f"{path} is missing, so nothing says how {folder} was made; {fix}") from None
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


FIX = "rerun `dvc repro prepare` (or delete data/prepared first)"


def load_split(folder: str | Path, split: str) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Read and check one prepared split; raise StageError naming the file and the fix."""
    path = Path(folder) / f"{split}.npz"
    X, y = (_read_checked(path, name) for name in ("X", "y"))
    problem = _problem(X, y)
    if problem:
        raise StageError(f"{path}: {problem}; {FIX}")
    return X, y.astype(np.int64)


def _read_checked(path: Path, name: str) -> npt.NDArray[Any]:
    """_read_member, its errors a StageError naming the file and the fix."""
    try:
        return _read_member(path, name)
    except FileNotFoundError:
        raise StageError(f"{path} is missing; {FIX}") from None
    except _Refused as error:
        raise StageError(f"{path}: {error}; {FIX}") from None
    except (
        OSError,
        ValueError,
        KeyError,
        EOFError,
        RuntimeError,
        NotImplementedError,
        zlib.error,
        zipfile.BadZipFile,
    ) as error:
        raise StageError(
            f"{path} is unreadable or corrupt ({type(error).__name__}: {error}); {FIX}"
        ) from None


class _Refused(ValueError):
    """A member that is not what the contract allows, found before reading its data."""


# Each array's dtype and number of dimensions; no split holds more images than MNIST has.
MEMBERS: dict[str, tuple[np.dtype[Any], int]] = {
    "X": (np.dtype("<f4"), 2),
    "y": (np.dtype("u1"), 1),
    "mean": (np.dtype("<f4"), 1),
    "std": (np.dtype("<f4"), 1),
}
MAX_ROWS = N_TRAIN + N_TEST
MAX_ABS_FEATURE = 1e6  # prepare's scalings stay far inside this (standardising divides by >= 1e-6)


def _read_member(path: Path, name: str) -> npt.NDArray[Any]:
    """Array `name` of the .npz at `path`, read only after its header proves it fits the contract.

    Never np.load: a forged header (10**9 rows) or a zip that inflates to gigabytes would be
    allocated before any check. Here at most MAX_ROWS rows of the expected width are ever read.
    """
    with open(path, "rb") as handle:
        if handle.read(len(NPY_MAGIC)) == NPY_MAGIC:
            raise _Refused("is a single .npy array, not the .npz archive of X and y that prepare writes")
    dtype, ndim = MEMBERS[name]
    with zipfile.ZipFile(path) as archive, archive.open(f"{name}.npy") as member:
        version = np.lib.format.read_magic(member)
        if version not in HEADER_READERS:
            raise _Refused(f"{name} has .npy format version {version}, not 1.0 or 2.0")
        shape, fortran_order, found = HEADER_READERS[version](member)
        if found != dtype or len(shape) != ndim or fortran_order:
            raise _Refused(f"{name} must be a {ndim}-D {dtype.name} array, got {found} {shape}")
        if name in ("mean", "std") and shape != (N_FEATURES,):
            raise _Refused(f"{name} declares shape {shape}; expected ({N_FEATURES},)")
        if not 0 < shape[0] <= MAX_ROWS or (name == "X" and shape[1] != N_FEATURES):
            raise _Refused(
                f"{name} declares shape {shape}; expected 1 to {MAX_ROWS} rows"
                + (f" of {N_FEATURES} features" if name == "X" else "")
            )
        size = math.prod(shape) * dtype.itemsize
        data = member.read(size)
    if len(data) != size:
        raise _Refused(f"{name} declares shape {shape} ({size} bytes) but holds {len(data)}")
    return np.frombuffer(data, dtype).reshape(shape).copy()


def _problem(X: npt.NDArray[Any], y: npt.NDArray[Any]) -> str | None:
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
