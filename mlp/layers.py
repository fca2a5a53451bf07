"""The fully connected layer, its weight initialisations, and inverted dropout.

A `Dense` layer computes a = activation(X @ W + b). Its backward pass stores dW and db and
returns dX; it never changes W or b (updating is the optimizer's job), so every gradient of
a step is computed from the weights that produced the forward pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from mlp.activations import ACTIVATIONS
from mlp.arrays import FloatArray


def he_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> FloatArray:
    """He et al. 2015 for ReLU-like units: N(0, 2 / fan_in), keeps activations' variance."""
    return rng.standard_normal((fan_in, fan_out)) * math.sqrt(2.0 / fan_in)


def glorot_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> FloatArray:
    """Glorot & Bengio 2010 for tanh or sigmoid: N(0, 2 / (fan_in + fan_out))."""
    return rng.standard_normal((fan_in, fan_out)) * math.sqrt(2.0 / (fan_in + fan_out))


INITIALIZERS: dict[str, Callable[[int, int, np.random.Generator], FloatArray]] = {
    "he": he_normal,
    "glorot": glorot_normal,
}


class Dense:
    """A fully connected layer with an optional activation (None = linear).

    Parameters
    ----------
    W : (fan_in, fan_out) weights; b : (fan_out,) biases. Both are used, not copied.
    activation : a name from ACTIVATIONS, or None for the linear output layer.
    needs_input_grad : False for the first layer, whose dX nobody uses (saves one matmul).
    grads : optional (dW, db) arrays to write gradients into (views into the model's vector).
    """

    def __init__(
        self,
        W: FloatArray,
        b: FloatArray,
        activation: str | None = None,
        needs_input_grad: bool = True,
        grads: tuple[FloatArray, FloatArray] | None = None,
    ) -> None:
        assert W.ndim == 2 and b.shape == (W.shape[1],) and W.dtype == b.dtype
        self.W = W
        self.b = b
        self.activation = activation
        self._activation = ACTIVATIONS[activation] if activation is not None else None
        self.needs_input_grad = needs_input_grad
        self.dW, self.db = grads if grads is not None else (np.zeros_like(W), np.zeros_like(b))
        assert self.dW.shape == W.shape and self.db.shape == b.shape
        self._X: FloatArray | None = None  # the input, for dW
        self._a: FloatArray | None = None  # the output, for the activation's derivative

    def forward(self, X: FloatArray, out: FloatArray | None = None) -> FloatArray:
        """Return activation(X @ W + b), shape (n_samples, fan_out), written into `out` if given."""
        z = np.matmul(X, self.W, out=out)
        z += self.b
        if self._activation is not None:
            self._activation.forward(z, z)
        self._X, self._a = X, z
        return z

    def backward(
        self, dout: FloatArray, out: FloatArray | None = None, scratch: FloatArray | None = None
    ) -> FloatArray | None:
        """Store dW, db from d loss / d output (n_samples, fan_out); return dX or None.

        `dout` is overwritten with d loss / d z (saves an allocation per layer and step). dX
        (n_samples, fan_in) is written into `out` and the activation's derivative into
        `scratch` (dout's shape) when given; training passes both, allocated once.
        """
        assert self._X is not None and self._a is not None, "backward() before forward()"
        if self._activation is None:
            dz = dout
        else:
            dz = self._activation.backprop(dout, self._a, np.empty_like(dout) if scratch is None else scratch)
        np.matmul(self._X.T, dz, out=self.dW)
        np.add.reduce(dz, axis=0, out=self.db)
        if not self.needs_input_grad:
            return None
        dX: FloatArray = np.matmul(dz, self.W.T, out=out)
        return dX


def dropout_mask(
    shape: tuple[int, ...],
    rate: float,
    rng: np.random.Generator,
    dtype: np.dtype[Any],
    out: FloatArray | None = None,
) -> FloatArray:
    """Inverted dropout: keep each unit with probability 1 - rate and scale kept ones by 1/(1 - rate).

    The scaling keeps each unit's expected value, so prediction needs no rescaling. The mask is
    written into `out` (of `shape` and `dtype`) when given. The draws are float32 whatever the
    dtype, so a float64 model drops the same units as a float32 one.
    """
    mask: FloatArray = np.empty(shape, dtype) if out is None else out
    draws = mask if mask.dtype == np.float32 else np.empty(shape, np.float32)
    rng.random(dtype=np.float32, out=draws)
    keep = 1.0 - rate
    np.less(draws, keep, out=mask)  # 1 to keep, 0 to drop
    mask *= dtype.type(1.0 / keep)
    return mask
