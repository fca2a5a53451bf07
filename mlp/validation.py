"""Checks of user-supplied arrays and names at the library's public entry points.

Each check raises a ValueError that names the problem and, where there is one, the fix.
Shape invariants that only a programming error can break are asserts elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt


def check_choice(kind: str, name: str, choices: Iterable[str]) -> None:
    """Raise if `name` is not one of `choices`, listing the valid ones."""
    valid = sorted(choices)
    if name not in valid:
        raise ValueError(f"unknown {kind} {name!r}; choose from {valid}")


def check_layer_sizes(layer_sizes: Iterable[int]) -> list[int]:
    """Return the sizes as a list of ints, or raise if any is not a positive integer."""
    sizes = list(layer_sizes)
    if len(sizes) < 2:
        raise ValueError(f"layer_sizes needs an input and an output size, got {sizes}")
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"layer sizes must be positive integers, got {sizes}")
    return [int(size) for size in sizes]


def check_features(
    X: npt.ArrayLike, n_features: int, name: str = "X"
) -> npt.NDArray[np.integer[Any] | np.floating[Any]]:
    """Return X as an array after checking it is 2-D, numeric, finite and has `n_features` columns."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features but the model expects {n_features}")
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers, got dtype {X.dtype}")
    # min and max propagate NaN and reach inf, without a temporary as large as X.
    if X.size and not (np.isfinite(X.min()) and np.isfinite(X.max())):
        raise ValueError(f"{name} contains NaN or inf; clean or impute the data first")
    return X


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


def check_positive(name: str, value: float, *, integer: bool = False) -> None:
    """Raise unless `value` is a finite number above zero (and an int when `integer`)."""
    kind = "a positive integer" if integer else "a positive finite number"
    if isinstance(value, bool) or (integer and not isinstance(value, (int, np.integer))):
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be {kind}, got {value!r}")


def check_fraction(name: str, value: float, *, low_inclusive: bool = True) -> None:
    """Raise unless `value` lies in [0, 1) (or (0, 1) when not `low_inclusive`)."""
    ok = (0 <= value < 1) if low_inclusive else (0 < value < 1)
    if isinstance(value, bool) or not ok:
        interval = "[0, 1)" if low_inclusive else "(0, 1)"
        raise ValueError(f"{name} must lie in {interval}, got {value!r}")
