"""Softmax cross-entropy fused with its gradient, computed stably from logits.

The loss is the standard one: the batch mean of -log p(true class). The reference notebook
printed `-mean(Y * log(p))` over all n_samples * n_classes entries, which divides by the
class count as well, so its printed losses are 10x smaller than these on MNIST.
"""

from __future__ import annotations

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
    logits : (n_samples, n_classes) float array, the last layer's linear output.
    y : (n_samples,) int array of class indices.
    checked : the caller has already checked y against the logits (fit does, once per run,
        and skips the per-step checks, which would cost it a few percent at batch size 32).

    Returns
    -------
    loss : float, mean over the batch of -log softmax(logits)[i, y[i]].
    dlogits : (n_samples, n_classes) array, d loss / d logits, same dtype as logits.

    Raises ValueError for logits that are not a non-empty 2-D float array, and for labels
    that are not integers in 0..n_classes-1 (a label of -1 would silently pick the last class).
    """
    if not checked:
        _check_loss_inputs(logits, y)
    n_samples = logits.shape[0]
    rows = np.arange(n_samples)
    # Subtracting the row max leaves softmax unchanged and keeps exp() from overflowing.
    shifted = logits - logits.max(axis=1, keepdims=True)
    true_class = shifted[rows, y]
    exp = np.exp(shifted, out=shifted)
    sum_exp = exp.sum(axis=1)
    # -log p(y) = log(sum exp) - shifted[y]: the log-sum-exp form never takes log(0).
    loss = (
        float(np.log(sum_exp).sum(dtype=np.float64)) - float(true_class.sum(dtype=np.float64))
    ) / n_samples
    # d/dz of -log softmax(z)_y is softmax(z) - onehot(y), and the batch mean divides by
    # n_samples. Subtracting at the true class avoids building a one-hot matrix.
    dlogits = exp
    dlogits *= (1 / (sum_exp * n_samples))[:, None]
    dlogits[rows, y] -= logits.dtype.type(1 / n_samples)
    return loss, dlogits


def _check_loss_inputs(logits: FloatArray, y: IntArray) -> None:
    """Raise ValueError unless logits are (n_samples >= 1, n_classes) floats and y their class indices."""
    if not isinstance(logits, np.ndarray) or logits.ndim != 2 or logits.dtype.kind != "f":
        raise ValueError(
            "logits must be a 2-D float array (n_samples, n_classes), got "
            f"{getattr(logits, 'dtype', type(logits).__name__)} of shape {np.shape(logits)}"
        )
    n_samples, n_classes = logits.shape
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
