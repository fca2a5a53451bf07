"""Softmax cross-entropy fused with its gradient, computed stably from logits.

The loss is the standard one: the batch mean of -log p(true class). The reference notebook
printed `-mean(Y * log(p))` over all n_samples * n_classes entries, which divides by the
class count as well, so its printed losses are 10x smaller than these on MNIST.

Training computes it with `cross_entropy_into`, in place and into buffers allocated once;
`softmax_cross_entropy` is the same computation on fresh arrays, for everyone else.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlp.arrays import FloatArray, IntArray

# Viewed as unsigned, a negative label becomes huge, so one max() finds labels below 0 too.
UNSIGNED = {np.dtype(f"i{size}"): np.dtype(f"u{size}") for size in (1, 2, 4, 8)}


def softmax_cross_entropy(
    logits: FloatArray, y: IntArray, *, checked: bool = False
) -> tuple[float, FloatArray]:
    """Mean cross-entropy of integer labels under softmax(logits), and its gradient.

    Parameters
    ----------
    logits : (n_samples, n_classes) float array, the last layer's linear output; left unchanged.
    y : (n_samples,) int array of class indices.
    checked : the caller has already checked y against the logits.

    Returns
    -------
    loss : float, mean over the batch of -log softmax(logits)[i, y[i]].
    dlogits : (n_samples, n_classes) array, d loss / d logits, same dtype as logits.

    Raises ValueError for logits that are not a non-empty 2-D float array, and for labels
    that are not integers in 0..n_classes-1 (a label of -1 would silently pick the last class).
    """
    if not checked:
        _check_loss_inputs(logits, y)
    dlogits = np.empty(logits.shape, logits.dtype)
    buffers = LossBuffers(len(logits), logits.dtype)
    return cross_entropy_into(logits, true_index(y, logits.shape[1]), dlogits, buffers), dlogits


def softmax(logits: FloatArray) -> FloatArray:
    """Class probabilities (n_samples, n_classes) from logits, without overflow."""
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities: FloatArray = exp / exp.sum(axis=1, keepdims=True)
    return probabilities


class LossBuffers:
    """The per-row arrays of cross_entropy_into for batches of `n_samples` rows, allocated once."""

    def __init__(self, n_samples: int, dtype: np.dtype[Any]) -> None:
        self.row_max = np.empty((n_samples, 1), dtype)
        self.sum_exp = np.empty(n_samples, dtype)
        self.sum_exp_column = self.sum_exp[:, None]  # the same memory, to scale rows by broadcasting
        self.log_sum_exp = np.empty(n_samples, dtype)
        self.true_gap = np.empty(n_samples, dtype)


def true_index(y: IntArray, n_classes: int) -> IntArray:
    """Where each label's logit sits in the raveled (n_samples, n_classes) logits: row * n_classes + y."""
    index: IntArray = np.arange(len(y)) * n_classes + y.astype(np.intp, copy=False)
    return index


def cross_entropy_into(
    logits: FloatArray,
    true_index: IntArray,
    dlogits: FloatArray,
    buffers: LossBuffers,
    true_gap: FloatArray | None = None,
) -> float:
    """softmax_cross_entropy's loss, with its gradient written into `dlogits` (which may be
    `logits` itself, as in training) and every temporary into `buffers`: nothing is allocated.

    `true_index` is true_index(y, n_classes) of valid labels (nothing checks them here), and
    `logits` and `dlogits` are C-contiguous. `true_gap` (n_samples,), buffers.true_gap if not
    given, receives each row's true-class logit minus its largest logit: 0 exactly where the
    true class scored highest, which is how fit counts correct predictions at no extra cost.
    """
    n_samples = logits.shape[0]
    gap = buffers.true_gap if true_gap is None else true_gap
    # Subtracting the row max leaves softmax unchanged and keeps exp() from overflowing.
    # (ufunc methods and ndarray methods directly: np.max and np.take add a Python layer per call)
    np.maximum.reduce(logits, axis=1, keepdims=True, out=buffers.row_max)
    shifted = np.subtract(logits, buffers.row_max, out=dlogits)
    shifted.take(true_index, out=gap, mode="clip")  # "clip": "raise" would copy out first
    exp = np.exp(shifted, out=shifted)
    sum_exp = np.add.reduce(exp, axis=1, out=buffers.sum_exp)
    # -log p(y) = log(sum exp) - shifted[y]: the log-sum-exp form never takes log(0).
    log_sum_exp = np.log(sum_exp, out=buffers.log_sum_exp)
    loss: float = (
        float(np.add.reduce(log_sum_exp, dtype=np.float64)) - float(np.add.reduce(gap, dtype=np.float64))
    ) / n_samples
    # d/dz of -log softmax(z)_y is softmax(z) - onehot(y), and the batch mean divides by
    # n_samples. Subtracting at the true class avoids building a one-hot matrix.
    np.multiply(sum_exp, n_samples, out=sum_exp)
    np.divide(1, sum_exp, out=sum_exp)
    np.multiply(exp, buffers.sum_exp_column, out=exp)
    exp.reshape(-1)[true_index] -= logits.dtype.type(1 / n_samples)
    return loss


def check_loss_labels(y: IntArray, n_samples: int, n_classes: int) -> None:
    """Raise ValueError unless y holds one class index in 0..n_classes-1 for each of n_samples >= 1 rows."""
    if n_samples == 0:
        raise ValueError("logits has no rows; the mean loss of an empty batch is undefined")
    if not isinstance(y, np.ndarray) or y.shape != (n_samples,):
        raise ValueError(
            f"y must be a vector of {n_samples} labels, one per row of logits, got shape {np.shape(y)}"
        )
    if y.dtype.kind not in "iu":
        raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}")
    unsigned = UNSIGNED.get(y.dtype)  # None for unsigned labels, or signed ones in a foreign byte order
    labels = y if unsigned is None else y.view(unsigned)
    if labels.max() >= n_classes or (unsigned is None and y.dtype.kind == "i" and y.min() < 0):
        raise ValueError(
            f"y has labels outside 0..{n_classes - 1} (min {y.min()}, max {y.max()}); "
            f"the logits have {n_classes} columns"
        )


def _check_loss_inputs(logits: FloatArray, y: IntArray) -> None:
    """Raise ValueError unless logits are (n_samples >= 1, n_classes) floats and y their class indices."""
    if not isinstance(logits, np.ndarray) or logits.ndim != 2 or logits.dtype.kind != "f":
        raise ValueError(
            "logits must be a 2-D float array (n_samples, n_classes), got "
            f"{getattr(logits, 'dtype', type(logits).__name__)} of shape {np.shape(logits)}"
        )
    check_loss_labels(y, *logits.shape)
