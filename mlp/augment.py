"""On-the-fly data augmentation of square images stored as flat rows: random small shifts, and
elastic distortions with a small random rotation.

Applied per mini-batch inside `fit` (pass `augment=random_shifts(28, 2)`), drawing from the
Generator that `fit` is given, so augmented runs are as reproducible as plain ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from mlp.arrays import FloatArray
from mlp.validation import check_number, check_positive


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
        _check_rows(X, side, f"random_shifts({side}, {max_shift}) shifts")
        n_samples = len(X)
        margin = ((0, 0), (max_shift, max_shift), (max_shift, max_shift))
        padded = np.pad(X.reshape(n_samples, side, side), margin, mode="edge")
        indices = windows[rng.integers(0, len(windows), size=n_samples)]
        indices += (np.arange(n_samples) * padded_side**2)[:, None]
        return np.take(padded, indices)

    return shift


def elastic_distortions(
    side: int, alpha: float, sigma: float, max_degrees: float = 0.0
) -> Callable[[FloatArray, np.random.Generator], FloatArray]:
    """An augmenter that bends each (side*side)-pixel image by a random smooth displacement field.

    Simard, Steinkraus and Platt (2003), section 2: each pixel's source position moves by
    alpha * (a Gaussian of width `sigma` pixels smoothing uniform noise in [-1, 1]), drawn
    anew for each image and each axis, and the image is resampled there by bilinear
    interpolation. Their MNIST setting is alpha 34, sigma 4. Each image is also turned by a
    random angle in [-max_degrees, max_degrees] about its centre. Positions beyond the border
    repeat the edge, as random_shifts does, so a blank image stays blank whatever the scaling.
    The returned function maps (n_samples, side*side) to a new array of the same shape and
    dtype; given rows of another length it raises ValueError.
    """
    check_positive("side", side, integer=True)
    if side < 2:
        raise ValueError(f"side must be at least 2 to interpolate between pixels, got {side}")
    for name, value in (("alpha", alpha), ("sigma", sigma), ("max_degrees", max_degrees)):
        if not (math.isfinite(check_number(name, value)) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    check_positive("sigma", sigma)
    centre = (side - 1) / 2
    offsets = np.arange(side) - centre
    # Smoothing the noise along rows and along columns is a product by one matrix on each side
    # (each row a Gaussian summing to 1): two small matmuls per batch, not an image filter.
    kernel = np.exp(-((offsets[:, None] - offsets[None, :]) ** 2) / (2 * sigma**2))
    smoothing = (kernel / kernel.sum(axis=1, keepdims=True)).astype(np.float32)
    offsets = offsets.astype(np.float32)

    def distort(X: FloatArray, rng: np.random.Generator) -> FloatArray:
        _check_rows(X, side, f"elastic_distortions({side}, ...) bends")
        n_samples = len(X)
        angle = np.deg2rad(rng.uniform(-max_degrees, max_degrees, size=(n_samples, 1, 1))).astype(np.float32)
        # float32 throughout: float64 batched products of these small matrices cost several times more
        noise = rng.random((n_samples, 2, side, side), dtype=np.float32)
        noise *= 2
        noise -= 1  # uniform in [-1, 1)
        field = np.float32(alpha) * (smoothing @ noise @ smoothing)  # (n_samples, 2, side, side): moves
        rows = centre + np.cos(angle) * offsets[:, None] - np.sin(angle) * offsets[None, :] + field[:, 0]
        cols = centre + np.sin(angle) * offsets[:, None] + np.cos(angle) * offsets[None, :] + field[:, 1]
        return _bilinear(X, side, rows, cols)

    return distort


def _bilinear(X: FloatArray, side: int, rows: FloatArray, cols: FloatArray) -> FloatArray:
    """Images X (n, side*side) sampled at (rows, cols) (n, side, side), clamped to the border."""
    rows, cols = np.clip(rows, 0, side - 1), np.clip(cols, 0, side - 1)
    # The top-left neighbour; at the last row or column it steps back one, with weight 1 on the
    # edge. int32 because converting float32 to int64 costs ten times more here.
    top, left = np.minimum(rows.astype(np.int32), side - 2), np.minimum(cols.astype(np.int32), side - 2)
    down, right = (rows - top).astype(X.dtype), (cols - left).astype(X.dtype)
    pixels = np.ascontiguousarray(X).reshape(-1)
    corner = top * side + left + (np.arange(len(X), dtype=np.intp) * side * side)[:, None, None]
    upper_left, upper_right, lower_left, lower_right = (
        np.take(pixels, corner + step) for step in (0, 1, side, side + 1)
    )
    upper = upper_left + right * (upper_right - upper_left)
    lower = lower_left + right * (lower_right - lower_left)
    return (upper + down * (lower - upper)).reshape(X.shape)


def _check_rows(X: FloatArray, side: int, what: str) -> None:
    """Refuse a batch that is not rows of side*side pixels, saying which augmenter (`what`) it was."""
    if np.ndim(X) != 2 or np.shape(X)[1] != side * side:
        raise ValueError(
            f"{what} {side}x{side} images, rows of {side * side} pixels, but got a batch of shape "
            f"{np.shape(X)}; build it with the side of your images"
        )
