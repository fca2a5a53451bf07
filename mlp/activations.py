"""Hidden-layer activations and their derivatives, registered by name.

Each derivative is applied in terms of the activation's *output* `a`, so a layer needs to
cache only its output for the backward pass: `backprop(dout, a)` turns d loss / d a into
d loss / d z in place. The output layer is linear: the softmax lives in the loss (losses.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

LEAKY_SLOPE = 0.01


class Activation(NamedTuple):
    """`forward(z, out)` writes f(z) into out; `backprop(dout, a)` multiplies dout by f'(z) in place."""

    forward: Callable[[np.ndarray, np.ndarray], np.ndarray]
    backprop: Callable[[np.ndarray, np.ndarray], np.ndarray]


def relu(z: np.ndarray, out: np.ndarray) -> np.ndarray:
    """max(z, 0)."""
    return np.maximum(z, 0, out=out)


def relu_backprop(dout: np.ndarray, a: np.ndarray) -> np.ndarray:
    """f'(z) is 1 where the unit was active, else 0 (0 at exactly z = 0, by convention)."""
    return np.multiply(dout, a > 0, out=dout)


def leaky_relu(z: np.ndarray, out: np.ndarray) -> np.ndarray:
    """z for z > 0, LEAKY_SLOPE * z otherwise."""
    return np.maximum(z, LEAKY_SLOPE * z, out=out)


def leaky_relu_backprop(dout: np.ndarray, a: np.ndarray) -> np.ndarray:
    """f'(z) is 1 where a > 0, LEAKY_SLOPE elsewhere (a and z share their sign)."""
    return np.multiply(dout, np.where(a > 0, 1, LEAKY_SLOPE).astype(a.dtype), out=dout)


def tanh(z: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Hyperbolic tangent."""
    return np.tanh(z, out=out)


def tanh_backprop(dout: np.ndarray, a: np.ndarray) -> np.ndarray:
    """f'(z) = 1 - tanh(z)^2."""
    return np.multiply(dout, 1 - a * a, out=dout)


def sigmoid(z: np.ndarray, out: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)), computed as (1 + tanh(z / 2)) / 2 so that large |z| never overflows."""
    np.multiply(z, 0.5, out=out)
    np.tanh(out, out=out)
    out += 1
    out *= 0.5
    return out


def sigmoid_backprop(dout: np.ndarray, a: np.ndarray) -> np.ndarray:
    """f'(z) = s (1 - s)."""
    return np.multiply(dout, a * (1 - a), out=dout)


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation(relu, relu_backprop),
    "leaky_relu": Activation(leaky_relu, leaky_relu_backprop),
    "tanh": Activation(tanh, tanh_backprop),
    "sigmoid": Activation(sigmoid, sigmoid_backprop),
}


def derivative(name: str, a: np.ndarray) -> np.ndarray:
    """f'(z) as an array, from the output a = f(z) (for tests and inspection)."""
    return ACTIVATIONS[name].backprop(np.ones_like(a), a)
