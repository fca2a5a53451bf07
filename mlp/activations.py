"""Hidden-layer activations and their derivatives, registered by name.

Each derivative is written in terms of the activation's *output* `a`, so a layer needs to
cache only its output for the backward pass. The output layer is linear: the softmax lives
in the loss (see losses.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

LEAKY_SLOPE = 0.01


class Activation(NamedTuple):
    """An activation `forward(z, out)` and its derivative `grad(a)` from the output a."""

    forward: Callable[[np.ndarray, np.ndarray], np.ndarray]
    grad_from_output: Callable[[np.ndarray], np.ndarray]


def relu(z: np.ndarray, out: np.ndarray) -> np.ndarray:
    """max(z, 0), written into `out` (which may be `z`)."""
    return np.maximum(z, 0, out=out)


def relu_grad(a: np.ndarray) -> np.ndarray:
    """1 where the unit was active, else 0 (0 at exactly z = 0, by convention)."""
    return (a > 0).astype(a.dtype)


def leaky_relu(z: np.ndarray, out: np.ndarray) -> np.ndarray:
    """z for z > 0, LEAKY_SLOPE * z otherwise."""
    return np.maximum(z, LEAKY_SLOPE * z, out=out)


def leaky_relu_grad(a: np.ndarray) -> np.ndarray:
    """1 where a > 0, LEAKY_SLOPE elsewhere (a and z share their sign)."""
    return np.where(a > 0, 1, LEAKY_SLOPE).astype(a.dtype)


def tanh(z: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Hyperbolic tangent."""
    return np.tanh(z, out=out)


def tanh_grad(a: np.ndarray) -> np.ndarray:
    """d tanh(z)/dz = 1 - tanh(z)^2."""
    return 1 - a * a


def sigmoid(z: np.ndarray, out: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)), via tanh so that large |z| never overflows."""
    np.multiply(z, 0.5, out=out)
    np.tanh(out, out=out)
    out += 1
    out *= 0.5
    return out


def sigmoid_grad(a: np.ndarray) -> np.ndarray:
    """d sigmoid(z)/dz = s (1 - s)."""
    return a * (1 - a)


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation(relu, relu_grad),
    "leaky_relu": Activation(leaky_relu, leaky_relu_grad),
    "tanh": Activation(tanh, tanh_grad),
    "sigmoid": Activation(sigmoid, sigmoid_grad),
}
