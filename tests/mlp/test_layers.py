"""Tests of one Dense layer (forward, gradients), the weight initialisations and dropout masks."""

import numpy as np
import pytest

import mlp
from mlp.layers import dropout_mask
from tests.support.gradcheck import numerical_gradient, relative_error

KINK_MARGIN = 1e-4


def _dense_away_from_kinks(activation):
    """A float64 Dense layer (10 -> 6), 5 inputs and an upstream gradient, no pre-activation near 0."""
    for seed in range(100):
        rng = np.random.default_rng(seed)
        W, b = rng.normal(size=(10, 6)) * 0.3, rng.normal(size=6) * 0.1
        X, dout = rng.normal(size=(5, 10)), rng.normal(size=(5, 6))
        if np.abs(X @ W + b).min() > KINK_MARGIN:
            return mlp.Dense(W, b, activation), X, dout
    raise AssertionError("no seed keeps every pre-activation away from 0")


@pytest.mark.parametrize("activation", [None, *sorted(mlp.ACTIVATIONS)])
def test_dense_gradients_match_finite_differences(activation):
    # backward(dout) returns dX and stores dW, db: the derivatives of sum(dout * forward(X)).
    layer, X, dout = _dense_away_from_kinks(activation)

    def loss() -> float:
        return float(np.sum(dout * layer.forward(X)))

    layer.forward(X)
    dX = layer.backward(dout.copy())  # backward overwrites its argument
    analytic = {"X": dX, "W": layer.dW.copy(), "b": layer.db.copy()}
    arrays = {"X": X, "W": layer.W, "b": layer.b}
    for name, array in arrays.items():
        assert relative_error(analytic[name], numerical_gradient(loss, array)) < 1e-6, name


def test_backward_leaves_weights_unchanged():
    # Backward only stores gradients; updating W and b is the optimizer's job.
    layer, X, dout = _dense_away_from_kinks("relu")
    W, b = layer.W.copy(), layer.b.copy()
    layer.forward(X)
    layer.backward(dout)
    np.testing.assert_array_equal(layer.W, W)
    np.testing.assert_array_equal(layer.b, b)


def test_first_layer_skips_input_gradient():
    # A layer built with needs_input_grad=False returns None but still stores dW and db.
    rng = np.random.default_rng(0)
    W, b = rng.normal(size=(10, 6)), rng.normal(size=6)
    X, dout = rng.normal(size=(5, 10)), rng.normal(size=(5, 6))
    full, first = mlp.Dense(W, b, "tanh"), mlp.Dense(W.copy(), b.copy(), "tanh", needs_input_grad=False)
    for layer in (full, first):
        layer.forward(X)
    assert full.backward(dout.copy()) is not None  # backward overwrites its argument
    assert first.backward(dout.copy()) is None
    np.testing.assert_array_equal(first.dW, full.dW)
    np.testing.assert_array_equal(first.db, full.db)


def test_linear_forward_is_affine():
    # With no activation the layer is exactly X @ W + b.
    layer, X, _ = _dense_away_from_kinks(None)
    np.testing.assert_allclose(layer.forward(X), X @ layer.W + layer.b, rtol=1e-14)


@pytest.mark.parametrize(
    ("name", "expected_std"),
    [
        ("he", lambda fan_in, fan_out: np.sqrt(2 / fan_in)),
        ("glorot", lambda fan_in, fan_out: np.sqrt(2 / (fan_in + fan_out))),
    ],
)
def test_initialisers_have_their_schemes_spread(name, expected_std):
    # He draws N(0, 2/fan_in) and Glorot N(0, 2/(fan_in+fan_out)), shaped (fan_in, fan_out).
    fan_in, fan_out = 400, 300
    W = mlp.INITIALIZERS[name](fan_in, fan_out, np.random.default_rng(0))
    assert W.shape == (fan_in, fan_out)
    std = expected_std(fan_in, fan_out)
    assert abs(W.mean()) < 0.02 * std
    assert W.std() == pytest.approx(std, rel=0.01)


@pytest.mark.parametrize("name", sorted(mlp.INITIALIZERS))
def test_initialisers_draw_only_from_the_given_generator(name):
    # Initialisation is reproducible from the caller's Generator alone.
    first = mlp.INITIALIZERS[name](20, 10, np.random.default_rng(3))
    second = mlp.INITIALIZERS[name](20, 10, np.random.default_rng(3))
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("dtype", [np.dtype(np.float32), np.dtype(np.float64)])
def test_dropout_mask_drops_rate_and_rescales_the_rest(rate, dtype):
    # Inverted dropout: about `rate` of entries are 0, the rest exactly 1/(1-rate) in the model's dtype.
    mask = dropout_mask((200, 100), rate, np.random.default_rng(0), dtype)
    assert mask.dtype == dtype and mask.shape == (200, 100)
    kept = mask != 0
    assert np.mean(~kept) == pytest.approx(rate, abs=0.02)
    np.testing.assert_array_equal(mask[kept], dtype.type(1 / (1 - rate)))
    # The expected value of each unit is preserved.
    assert mask.mean() == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("dtype", [np.dtype(np.float32), np.dtype(np.float64)])
def test_dropout_mask_written_into_a_buffer_is_the_same_mask(dtype):
    # Training writes masks into buffers allocated once; the draws and the mask stay the same.
    fresh = dropout_mask((30, 20), 0.4, np.random.default_rng(5), dtype)
    buffer = np.full((30, 20), np.nan, dtype)
    written = dropout_mask((30, 20), 0.4, np.random.default_rng(5), dtype, out=buffer)
    assert written is buffer
    np.testing.assert_array_equal(written, fresh)
