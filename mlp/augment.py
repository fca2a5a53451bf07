"""On-the-fly data augmentation of square images stored as flat rows: random small shifts.

Applied per mini-batch inside `fit` (pass `augment=random_shifts(28, 2)`), drawing from the
Generator that `fit` is given, so augmented runs are as reproducible as plain ones.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mlp.arrays import FloatArray


def random_shifts(side: int, max_shift: int) -> Callable[[FloatArray, np.random.Generator], FloatArray]:
    """An augmenter that shifts each (side*side)-pixel image by up to `max_shift` pixels.

    Each image gets its own vertical and horizontal shift in [-max_shift, max_shift]; pixels
    entering at a border repeat the edge (the background, for MNIST), whatever the scaling.
    The returned function maps (n_samples, side*side) to a new array of the same shape and
    dtype; given rows of another length it raises ValueError.
    """
    for name, value in (("side", side), ("max_shift", max_shift)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if side < 1 or not 0 <= max_shift < side:
        raise ValueError(f"max_shift must lie in [0, {side - 1}] for {side}x{side} images, got {max_shift}")
    padded_side = side + 2 * max_shift
    window = np.arange(side)
    # windows[k] lists, for shift number k, the flat indices into one padded image that make
    # up the shifted image; one np.take per batch then does every sample's shift at once.
    windows = np.array(
        [
            ((top + window)[:, None] * padded_side + (left + window)[None, :]).ravel()
            for top in range(2 * max_shift + 1)
            for left in range(2 * max_shift + 1)
        ],
        dtype=np.intp,
    )

    def shift(X: FloatArray, rng: np.random.Generator) -> FloatArray:
        if np.ndim(X) != 2 or np.shape(X)[1] != side * side:
            raise ValueError(
                f"random_shifts({side}, {max_shift}) shifts {side}x{side} images, rows of {side * side} "
                f"pixels, but got a batch of shape {np.shape(X)}; build it with the side of your images"
            )
        n_samples = len(X)
        margin = ((0, 0), (max_shift, max_shift), (max_shift, max_shift))
        padded = np.pad(X.reshape(n_samples, side, side), margin, mode="edge")
        indices = windows[rng.integers(0, len(windows), size=n_samples)]
        indices += (np.arange(n_samples) * padded_side**2)[:, None]
        return np.take(padded, indices)

    return shift
