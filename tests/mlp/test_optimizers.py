"""Tests of the optimizers: a worked SGD step, each update rule against its formula, make_optimizer."""

import functools
import re

import numpy as np
import pytest

import mlp

SHAPES = [(3,), (4, 5), (2, 3, 4)]
# Learning rates for successive steps: fit changes optimizer.learning_rate between epochs.
LEARNING_RATES = [0.1, 0.1, 0.05, 0.2, 0.1]


def test_worked_sgd_step_on_tiny_network():
    # One plain SGD step on a [2, 2, 2] ReLU network gives exactly the hand-computed weights.
    W0, b0 = np.array([[0.5, 0.5], [0.0, 1.0]]), np.array([0.5, -0.5])
    W1, b1 = np.array([[1.0, 0.0], [0.0, 0.5]]), np.array([0.0, 0.0])
    model = mlp.MLP.from_weights([W0, W1], [b0, b1], activation="relu")
    X, y = np.array([[1.0, 2.0]]), np.array([0])
    # Forward:
    #   z0 = X W0 + b0 = [1*0.5 + 2*0 + 0.5, 1*0.5 + 2*1 - 0.5] = [1, 2]
    #   h  = relu(z0) = [1, 2]                       (both units active, relu' = [1, 1])
    #   logits = h W1 + b1 = [1*1 + 2*0, 1*0 + 2*0.5] = [1, 1]
    #   p = softmax([1, 1]) = [0.5, 0.5];  loss = -log 0.5 = log 2
    # Backward (one sample, so no division by n_samples):
    #   dlogits = p - onehot(0) = [-0.5, 0.5]
    #   dW1 = h^T dlogits = [[1*-0.5, 1*0.5], [2*-0.5, 2*0.5]] = [[-0.5, 0.5], [-1, 1]]
    #   db1 = [-0.5, 0.5]
    #   dh = dlogits W1^T = [-0.5*1 + 0.5*0, -0.5*0 + 0.5*0.5] = [-0.5, 0.25] = dz0
    #   dW0 = X^T dz0 = [[1*-0.5, 1*0.25], [2*-0.5, 2*0.25]] = [[-0.5, 0.25], [-1, 0.5]]
    #   db0 = [-0.5, 0.25]
    # SGD with lr = 0.5, p <- p - 0.5 g:
    #   W0 = [[0.5+0.25, 0.5-0.125], [0+0.5, 1-0.25]] = [[0.75, 0.375], [0.5, 0.75]]
    #   b0 = [0.5+0.25, -0.5-0.125] = [0.75, -0.625]
    #   W1 = [[1+0.25, 0-0.25], [0+0.5, 0.5-0.5]] = [[1.25, -0.25], [0.5, 0]]
    #   b1 = [0+0.25, 0-0.25] = [0.25, -0.25]
    # Every number is a short binary fraction, so float64 reproduces them exactly.
    loss = model.loss_and_gradients(X, y)
    assert loss == pytest.approx(np.log(2), rel=1e-15)
    mlp.SGD(model.parameters(), learning_rate=0.5).step(model.gradients())
    expected = [
        [[0.75, 0.375], [0.5, 0.75]],
        [0.75, -0.625],
        [[1.25, -0.25], [0.5, 0.0]],
        [0.25, -0.25],
    ]
    actual = [array for layer in model.layers for array in (layer.W, layer.b)]
    for array, wanted in zip(actual, expected, strict=True):
        np.testing.assert_array_equal(array, wanted)


def _params_and_grads(dtype, shape, seed=0):
    """Random parameters of `shape` and one gradient array per step, all of `dtype`."""
    rng = np.random.default_rng(seed)
    params = rng.normal(size=shape).astype(dtype)
    grads = [rng.normal(size=shape).astype(dtype) for _ in LEARNING_RATES]
    return params, grads


def _assert_matches(actual, expected, dtype):
    """Exact for float64, where the formula repeats the optimizer's operations; tight for float32."""
    assert actual.dtype == dtype
    if dtype == np.float64:
        np.testing.assert_array_equal(actual, expected)
    else:
        np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("momentum", "nesterov"), [(0.0, False), (0.9, False), (0.9, True)], ids=["plain", "momentum", "nesterov"]
)
def test_sgd_updates_follow_their_formulas(momentum, nesterov, dtype, shape):
    # SGD: p -= lr g; momentum: v = mu v + g, p -= lr v; Nesterov: p -= lr (g + mu v), over several steps.
    params, grads = _params_and_grads(dtype, shape)
    expected = params.astype(np.float64)
    velocity = np.zeros_like(expected)
    optimizer = mlp.SGD(params, LEARNING_RATES[0], momentum=momentum, nesterov=nesterov)
    for lr, g in zip(LEARNING_RATES, grads, strict=True):
        optimizer.learning_rate = lr
        optimizer.step(g.copy())  # step may overwrite its gradients
        g = g.astype(np.float64)
        if momentum == 0:
            expected = expected - lr * g
        else:
            velocity = momentum * velocity + g
            expected = expected - lr * (g + momentum * velocity if nesterov else velocity)
        _assert_matches(params, expected, dtype)
    if momentum:
        _assert_matches(optimizer.velocity, velocity, dtype)
    else:
        assert optimizer.velocity is None


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_updates_follow_their_formula(dtype, shape):
    # Adam's moments, step count and bias-corrected update match Kingma & Ba over several steps.
    beta1, beta2, epsilon = 0.9, 0.999, 1e-8
    params, grads = _params_and_grads(dtype, shape, seed=1)
    expected = params.astype(np.float64)
    m, v = np.zeros_like(expected), np.zeros_like(expected)
    optimizer = mlp.Adam(params, LEARNING_RATES[0], beta1=beta1, beta2=beta2, epsilon=epsilon)
    for t, (lr, g) in enumerate(zip(LEARNING_RATES, grads, strict=True), start=1):
        optimizer.learning_rate = lr
        optimizer.step(g)
        assert optimizer.t == t
        g = g.astype(np.float64)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
        expected = expected - lr * m_hat / (np.sqrt(v_hat) + epsilon)
        # The moments repeat the optimizer's operations; the update is the same formula with
        # its factors grouped differently, so it may differ in the last bit.
        _assert_matches(optimizer.m, m, dtype)
        _assert_matches(optimizer.v, v, dtype)
        assert params.dtype == dtype
        tolerance = {"rtol": 1e-6, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-14, "atol": 1e-14}
        np.testing.assert_allclose(params, expected, **tolerance)


@pytest.mark.parametrize("momentum", [0.0, 0.9], ids=["plain", "momentum"])
def test_sgd_writes_its_update_into_the_gradients(momentum):
    # Plain and momentum SGD keep no scratch vector: the update lr g (or lr v) goes into the gradient
    # vector, which the next backward rewrites anyway; the parameters lose exactly that update.
    params, grads = _params_and_grads(np.float32, (50,))
    before = params.copy()
    optimizer = mlp.SGD(params, 0.1, momentum=momentum)
    g = grads[0].copy()
    optimizer.step(g)
    np.testing.assert_array_equal(g, grads[0] * np.float32(0.1))  # v = g after one step
    np.testing.assert_array_equal(params, before - g)


@pytest.mark.parametrize("name", sorted(mlp.OPTIMIZERS))
def test_optimizers_update_the_model_parameters_in_place(name):
    # step() changes the very vector the model's layers view, not a copy, and keeps its dtype.
    model = mlp.MLP([4, 3, 2], np.random.default_rng(0))
    before = model.layers[0].W.copy()
    optimizer = mlp.make_optimizer(name, model.parameters(), 0.1)
    optimizer.step(np.ones_like(model.parameters()))
    assert model.parameters().dtype == np.float32
    assert not np.array_equal(model.layers[0].W, before)


@pytest.mark.parametrize(
    ("name", "kind", "momentum", "nesterov"),
    [("sgd", mlp.SGD, 0.0, False), ("momentum", mlp.SGD, 0.8, False), ("nesterov", mlp.SGD, 0.8, True)],
)
def test_make_optimizer_builds_sgd_variants(name, kind, momentum, nesterov):
    # "sgd" is plain SGD (momentum ignored); "momentum" and "nesterov" use the given momentum.
    optimizer = mlp.make_optimizer(name, np.zeros(3), 0.05, momentum=0.8)
    assert type(optimizer) is kind
    assert (optimizer.learning_rate, optimizer.momentum, optimizer.nesterov) == (0.05, momentum, nesterov)


def test_make_optimizer_builds_adam_with_its_defaults():
    # "adam" is Adam with the paper's betas; momentum does not apply to it.
    optimizer = mlp.make_optimizer("adam", np.zeros(3), 0.002, momentum=0.5)
    assert type(optimizer) is mlp.Adam
    assert (optimizer.learning_rate, optimizer.beta1, optimizer.beta2) == (0.002, 0.9, 0.999)


def test_make_optimizer_passes_each_optimizer_its_own_hyperparameters():
    # A caller passes all its settings; Adam takes its betas, SGD ignores them (and Adam momentum).
    settings = {"momentum": 0.5, "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6}
    adam = mlp.make_optimizer("adam", np.zeros(3), 0.01, **settings)
    assert (adam.beta1, adam.beta2, adam.epsilon) == (0.8, 0.99, 1e-6)
    assert mlp.make_optimizer("nesterov", np.zeros(3), 0.01, **settings).momentum == 0.5
    assert mlp.make_optimizer("momentum", np.zeros(3), 0.01).momentum == 0.9  # the table's default


def test_every_optimizer_in_the_table_is_tested_here():
    # Adding an optimizer to OPTIMIZERS must come with its formula test in this file.
    assert set(mlp.OPTIMIZERS) == {"sgd", "momentum", "nesterov", "adam"}


@pytest.mark.parametrize("name", ["rmsprop", "SGD", ""])
def test_unknown_optimizer_lists_valid_names(name):
    # An unknown optimizer name is rejected with the valid names listed.
    expected = f"unknown optimizer {name!r}; choose from {sorted(mlp.OPTIMIZERS)}"
    with pytest.raises(ValueError, match=re.escape(expected)):
        mlp.make_optimizer(name, np.zeros(3), 0.1)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda p: mlp.SGD(p, 0.0), "learning_rate"),
        (lambda p: mlp.SGD(p, -0.1), "learning_rate"),
        (lambda p: mlp.SGD(p, float("nan")), "learning_rate"),
        (lambda p: mlp.SGD(p, 0.1, momentum=1.0), "momentum"),
        (lambda p: mlp.SGD(p, 0.1, momentum=-0.5), "momentum"),
        (lambda p: mlp.SGD(p, 0.1, nesterov=True), "nesterov needs a momentum"),
        (lambda p: mlp.Adam(p, float("inf")), "learning_rate"),
        (lambda p: mlp.Adam(p, 0.1, beta1=1.0), "beta1"),
        (lambda p: mlp.Adam(p, 0.1, beta2=1.5), "beta2"),
        (lambda p: mlp.Adam(p, 0.1, epsilon=0.0), "epsilon"),
    ],
)
def test_invalid_hyperparameters_are_rejected(build, message):
    # Bad learning rates, momenta, betas and epsilons fail at construction, naming the argument.
    with pytest.raises(ValueError, match=message):
        build(np.zeros(3))


@pytest.mark.parametrize(
    ("build", "arguments", "message"),
    [
        (mlp.SGD, {"learning_rate": "0.1"}, "learning_rate must be a number, got '0.1' (str)"),
        (mlp.SGD, {"learning_rate": None}, "learning_rate must be a number, got None (NoneType)"),
        (mlp.SGD, {"learning_rate": True}, "learning_rate must be a number, got True (bool)"),
        (mlp.SGD, {"momentum": "0.9"}, "momentum must be a number, got '0.9' (str)"),
        (mlp.SGD, {"momentum": 0.9, "nesterov": "yes"}, "nesterov must be True or False, got 'yes' (str)"),
        (mlp.Adam, {"beta1": "0.9"}, "beta1 must be a number, got '0.9' (str)"),
        (mlp.Adam, {"beta2": None}, "beta2 must be a number, got None (NoneType)"),
        (mlp.Adam, {"epsilon": "1e-8"}, "epsilon must be a number, got '1e-8' (str)"),
        (functools.partial(mlp.make_optimizer, "momentum"), {"momentum": "0.9"}, "momentum must be a number"),
        (functools.partial(mlp.make_optimizer, "sgd"), {"betta1": 0.9}, "unknown hyperparameters ['betta1']"),
        (functools.partial(mlp.make_optimizer, "adam"), {"learning_rate": [0.1]}, "got [0.1] (list)"),
    ],
    ids=[
        "lr_str",
        "lr_none",
        "lr_bool",
        "momentum_str",
        "nesterov_str",
        "beta1_str",
        "beta2_none",
        "epsilon_str",
        "make_momentum_str",
        "make_unknown_key",
        "make_lr_list",
    ],
)
def test_hyperparameters_of_the_wrong_type_are_value_errors(build, arguments, message):
    # Numeric strings (as YAML reads 1e-3), None, bools and lists are ValueErrors naming the argument
    # and what it got, never TypeErrors from a comparison.
    with pytest.raises(ValueError, match=re.escape(message)):
        build(np.zeros(3), **{"learning_rate": 0.1, **arguments})
