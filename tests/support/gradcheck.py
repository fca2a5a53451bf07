"""Finite-difference gradient checking shared by the loss, layer and model tests."""

import numpy as np

STEP = 1e-5  # central differences in float64: truncation and round-off both near 1e-10


def numerical_gradient(loss, array: np.ndarray) -> np.ndarray:
    """Central differences of loss() with respect to each entry of `array`, perturbed in place."""
    gradient = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        original = array[index]
        array[index] = original + STEP
        plus = loss()
        array[index] = original - STEP
        minus = loss()
        array[index] = original
        gradient[index] = (plus - minus) / (2 * STEP)
    return gradient


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """|a - b| / max(|a| + |b|, tiny), with |.| the Euclidean norm over the whole array.

    Norms rather than entries: an entry whose gradient is ~1e-7 carries finite-difference
    round-off of ~1e-11, which alone would exceed 1e-6 entrywise.
    """
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), np.finfo(float).tiny))
