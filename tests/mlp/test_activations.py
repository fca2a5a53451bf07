"""Tests of the activation table: each forward function and its derivative from the output."""

import numpy as np
import pytest

import mlp
from mlp.activations import LEAKY_SLOPE, derivative

STEP = 1e-5

REFERENCE = {
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, LEAKY_SLOPE * z),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
}


def _points() -> np.ndarray:
    """Points in [-5, 5] at least 0.05 from the ReLU kink at 0."""
    z = np.linspace(-5, 5, 101)
    return z[np.abs(z) > 0.05]


def _forward(name: str, z: np.ndarray) -> np.ndarray:
    """The activation applied to a copy of z (forward may write in place)."""
    return mlp.ACTIVATIONS[name].forward(z, np.empty_like(z))


def test_every_activation_has_a_reference():
    # The table and these tests cover the same activations, so a new one cannot go untested.
    assert set(mlp.ACTIVATIONS) == set(REFERENCE)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_forward_matches_textbook_formula(name):
    # Each activation computes its textbook formula (sigmoid via tanh is only a rewrite).
    z = _points()
    np.testing.assert_allclose(_forward(name, z), REFERENCE[name](z), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_forward_in_place_equals_out_of_place(name):
    # Dense calls forward(z, z); writing into the input must give the same result.
    z = _points()
    in_place = z.copy()
    result = mlp.ACTIVATIONS[name].forward(in_place, in_place)
    assert result is in_place
    np.testing.assert_array_equal(in_place, _forward(name, z))


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_derivative_from_output_matches_finite_differences(name):
    # backprop(1, f(z)) is f'(z), checked by central differences away from the kink.
    z = _points()
    numeric = (_forward(name, z + STEP) - _forward(name, z - STEP)) / (2 * STEP)
    analytic = derivative(name, _forward(name, z))
    relative = np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), 1e-300)
    assert relative.max() < 1e-6


@pytest.mark.parametrize("name", sorted(REFERENCE))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_derivative_keeps_dtype(name, dtype):
    # Derivatives stay in the model's dtype, so float32 training never silently upcasts.
    a = _forward(name, _points().astype(dtype))
    assert a.dtype == dtype
    assert derivative(name, a).dtype == dtype


def test_sigmoid_saturates_without_overflow():
    # Sigmoid of huge |z| is exactly 0 or 1 with no overflow warning (it goes through tanh).
    z = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    with np.errstate(all="raise"):
        a = _forward("sigmoid", z)
    np.testing.assert_array_equal(a[[0, 2, 4]], [0.0, 0.5, 1.0])
    assert np.all((a >= 0) & (a <= 1))
