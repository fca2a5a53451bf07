"""The arrays of one training step, allocated once per batch shape so that a step allocates nothing.

A step writes each layer's output, each hidden activation's derivative, the dropout masks and
masked outputs, each hidden layer's input gradient and the loss's per-row values. For a batch
of n rows their shapes are fixed, so `fit` allocates them once (one Workspace for its batch
size, one for a smaller last batch) and reuses them at every step; loss_and_gradients makes a
fresh one per call. What the next step overwrites: every array here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlp.arrays import FloatArray
from mlp.losses import LossBuffers


class Workspace:
    """Buffers for a step on `n_samples` rows of an MLP with `layer_sizes` in `dtype`.

    outputs[i] : layer i's output (n_samples, layer_sizes[i + 1]); the last is the logits,
        then, in place, d loss / d logits.
    backward[i] : (dX out, activation-derivative scratch) for layer i's backward, None where
        the layer needs none (no dX for the first layer, no derivative for the linear last).
    masks[i], masked[i] : hidden layer i's dropout mask and masked output, if `dropout`.
    loss : the loss's per-row arrays.
    """

    def __init__(
        self, layer_sizes: Sequence[int], n_samples: int, dtype: np.dtype[Any], dropout: bool = False
    ) -> None:
        def empty(size: int) -> FloatArray:
            return np.empty((n_samples, size), dtype)

        hidden = layer_sizes[1:-1]
        self.n_samples = n_samples
        self.outputs = [empty(size) for size in layer_sizes[1:]]
        input_grads = [None, *(empty(size) for size in hidden)]
        derivatives = [*(empty(size) for size in hidden), None]
        self.backward: list[tuple[FloatArray | None, FloatArray | None]] = list(
            zip(input_grads, derivatives, strict=True)
        )
        self.masks = [empty(size) for size in hidden] if dropout else None
        self.masked = [empty(size) for size in hidden] if dropout else None
        self.loss = LossBuffers(n_samples, dtype)
