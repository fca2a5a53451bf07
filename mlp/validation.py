"""Checks of user-supplied arrays, numbers and names at the library's public entry points.

Each check raises a ValueError that names the problem and, where there is one, the fix.
Shape invariants that only a programming error can break are asserts elsewhere.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

DTYPES = ("float32", "float64")


def check_choice(kind: str, name: str, choices: Iterable[str]) -> None:
    """Raise if `name` is not one of `choices`, listing the valid ones."""
    valid = sorted(choices)
    if not isinstance(name, str) or name not in valid:
        raise ValueError(f"unknown {kind} {name!r}; choose from {valid}")


def check_dtype(dtype: str | npt.DTypeLike) -> np.dtype[Any]:
    """The model dtype that `dtype` names ("float32" or "float64", or the NumPy type itself)."""
    name = dtype if isinstance(dtype, str) else None
    if name is None and dtype is not None:  # np.dtype(None) would be float64: None is no choice
        with contextlib.suppress(TypeError):
            name = np.dtype(dtype).name
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose from {sorted(DTYPES)}")
    return np.dtype(name)


def check_layer_sizes(layer_sizes: Iterable[int]) -> list[int]:
    """Return the sizes as a list of ints, or raise if any is not a positive integer."""
    if isinstance(layer_sizes, (str, bytes)) or not isinstance(layer_sizes, Iterable):
        raise ValueError(f"layer_sizes must be a list of positive integers, got {layer_sizes!r}")
    sizes = list(layer_sizes)
    if len(sizes) < 2:
        raise ValueError(f"layer_sizes needs an input and an output size, got {sizes}")
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"layer sizes must be positive integers, got {sizes}")
    return [int(size) for size in sizes]


def check_features(
    X: npt.ArrayLike, n_features: int, name: str = "X", dtype: np.dtype[Any] | None = None
) -> npt.NDArray[Any]:
    """Return X as an array after checking it is 2-D, numeric, finite and has `n_features` columns.

    With `dtype`, X is also cast to it, after checking that every value fits the dtype's range.
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features but the model expects {n_features}")
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers, got dtype {X.dtype}")
    if X.size:
        # min and max propagate NaN and reach inf, without a temporary as large as X.
        low, high = X.min(), X.max()
        if not (np.isfinite(low) and np.isfinite(high)):
            raise ValueError(f"{name} contains NaN or inf; clean or impute the data first")
        if dtype is not None:
            largest, limit = max(abs(float(low)), abs(float(high))), float(np.finfo(dtype).max)
            if largest > limit:
                raise ValueError(
                    f"{name} holds values up to {largest:.3g} in absolute value, beyond the largest "
                    f"{dtype.name} ({limit:.3g}) the model computes in; scale the inputs, e.g. to [0, 1]"
                )
    return X if dtype is None else X.astype(dtype, copy=False)


def largest_magnitude(X: npt.NDArray[Any]) -> float:
    """max |X| (0 for an empty X), without a temporary as large as X."""
    return max(abs(float(X.min())), abs(float(X.max()))) if X.size else 0.0


def check_not_empty(name: str, n_samples: int, purpose: str) -> None:
    """Raise if a set has no rows, naming the set and what it was needed for."""
    if n_samples == 0:
        raise ValueError(f"{name} has no rows; {purpose} needs at least one sample")


def check_labels(y: npt.ArrayLike, n_samples: int, n_classes: int, name: str = "y") -> npt.NDArray[np.int64]:
    """Return y as an int64 vector after checking its length and that labels lie in 0..n_classes-1."""
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n_samples:
        raise ValueError(f"{name} must be a vector of {n_samples} labels, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if n_samples and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(
            f"{name} has labels outside 0..{n_classes - 1} "
            f"(min {y.min()}, max {y.max()}); the model has {n_classes} outputs"
        )
    return y.astype(np.int64, copy=False)


def check_number(name: str, value: object) -> float:
    """Return `value` as a float, or raise unless it is a real number (not a bool, string or None)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    try:
        return float(value)
    except OverflowError:  # an int beyond float's range
        raise ValueError(f"{name} is too large: {value!r}") from None


def check_positive(name: str, value: object, *, integer: bool = False) -> None:
    """Raise unless `value` is a finite number above zero (and an int when `integer`)."""
    kind = "a positive integer" if integer else "a positive finite number"
    if integer and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
        raise ValueError(f"{name} must be {kind}, got {value!r} ({type(value).__name__})")
    number = check_number(name, value)
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be {kind}, got {value!r}")


def check_fraction(name: str, value: object, *, low_inclusive: bool = True) -> None:
    """Raise unless `value` is a number in [0, 1) (or (0, 1) when not `low_inclusive`)."""
    number = check_number(name, value)
    if not ((0 <= number < 1) if low_inclusive else (0 < number < 1)):
        interval = "[0, 1)" if low_inclusive else "(0, 1)"
        raise ValueError(f"{name} must lie in {interval}, got {value!r}")


def check_generator(rng: object) -> None:
    """Raise unless `rng` is a NumPy Generator (all randomness goes through one)."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"rng must be a numpy.random.Generator, e.g. np.random.default_rng(42), got {type(rng).__name__}"
        )
