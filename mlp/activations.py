"""Hidden-layer activations and their derivatives, registered by name.

Each derivative is applied in terms of the activation's *output* `a`, so a layer needs to
cache only its output for the backward pass: `backprop(dout, a, scratch)` turns d loss / d a
into d loss / d z in place, with f'(z) written into `scratch` (an array of a's shape and dtype
that training allocates once, so a step allocates nothing). The output layer is linear: the
softmax lives in the loss (losses.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from mlp.arrays import FloatArray

LEAKY_SLOPE = 0.01


class Activation(NamedTuple):
    """`forward(z, out)` writes f(z) into out; `backprop(dout, a, scratch)` multiplies dout by f'(z)
    in place, using scratch for f'(z)."""

    forward: Callable[[FloatArray, FloatArray], FloatArray]
    backprop: Callable[[FloatArray, FloatArray, FloatArray], FloatArray]


# Each function returns the array its ufunc wrote into, which is what the ufunc returns, too;
# NumPy's type stubs say Any for a ufunc called with out=, so returning it would lose the type.


def relu(z: FloatArray, out: FloatArray) -> FloatArray:
    """max(z, 0)."""
    np.maximum(z, 0, out=out)
    return out


def relu_backprop(dout: FloatArray, a: FloatArray, scratch: FloatArray) -> FloatArray:
    """f'(z) is 1 where the unit was active, else 0 (0 at exactly z = 0, by convention)."""
    np.greater(a, 0, out=scratch)  # 1.0 or 0.0 (np.heaviside does the same ten times slower)
    np.multiply(dout, scratch, out=dout)
    return dout


def leaky_relu(z: FloatArray, out: FloatArray) -> FloatArray:
    """z for z > 0, LEAKY_SLOPE * z otherwise."""
    np.maximum(z, LEAKY_SLOPE * z, out=out)
    return out


def leaky_relu_backprop(dout: FloatArray, a: FloatArray, scratch: FloatArray) -> FloatArray:
    """f'(z) is 1 where a > 0, LEAKY_SLOPE elsewhere (a and z share their sign)."""
    scratch.fill(LEAKY_SLOPE)
    np.copyto(scratch, 1, where=a > 0)
    np.multiply(dout, scratch, out=dout)
    return dout


def tanh(z: FloatArray, out: FloatArray) -> FloatArray:
    """Hyperbolic tangent."""
    np.tanh(z, out=out)
    return out


def tanh_backprop(dout: FloatArray, a: FloatArray, scratch: FloatArray) -> FloatArray:
    """f'(z) = 1 - tanh(z)^2."""
    np.multiply(a, a, out=scratch)
    np.subtract(1, scratch, out=scratch)
    np.multiply(dout, scratch, out=dout)
    return dout


def sigmoid(z: FloatArray, out: FloatArray) -> FloatArray:
    """1 / (1 + exp(-z)), computed as (1 + tanh(z / 2)) / 2 so that large |z| never overflows."""
    np.multiply(z, 0.5, out=out)
    np.tanh(out, out=out)
    out += 1
    out *= 0.5
    return out


def sigmoid_backprop(dout: FloatArray, a: FloatArray, scratch: FloatArray) -> FloatArray:
    """f'(z) = s (1 - s)."""
    np.subtract(1, a, out=scratch)
    np.multiply(a, scratch, out=scratch)
    np.multiply(dout, scratch, out=dout)
    return dout


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation(relu, relu_backprop),
    "leaky_relu": Activation(leaky_relu, leaky_relu_backprop),
    "tanh": Activation(tanh, tanh_backprop),
    "sigmoid": Activation(sigmoid, sigmoid_backprop),
}


def derivative(name: str, a: FloatArray) -> FloatArray:
    """f'(z) as an array, from the output a = f(z) (for tests and inspection)."""
    return ACTIVATIONS[name].backprop(np.ones_like(a), a, np.empty_like(a))
