"""Tests of MLP: whole-network gradients, dropout, dtypes, predictions and argument checks."""

import re
import tracemalloc

import numpy as np
import pytest

import mlp
from mlp.losses import true_index
from mlp.workspace import Workspace
from tests.support.gradcheck import numerical_gradient, relative_error

KINK_MARGIN = 1e-4
N_SAMPLES, N_FEATURES, N_CLASSES = 5, 10, 4
DROPOUT_SEED = 7


def _min_abs_preactivation(model: mlp.MLP, X: np.ndarray) -> float:
    """The smallest |z| over the hidden layers' pre-activations (dropout not applied)."""
    a, smallest = X, np.inf
    for layer in model.layers[:-1]:
        z = a @ layer.W + layer.b
        smallest = min(smallest, float(np.abs(z).min()))
        a = mlp.ACTIVATIONS[model.activation].forward(z, z.copy())
    return smallest


def _float64_problem(hidden_sizes, activation, dropout=0.0):
    """A float64 model with small random biases and a batch on which no ReLU sits near its kink.

    With dropout only one hidden layer is allowed: the masks then never move a pre-activation.
    """
    assert dropout == 0 or len(hidden_sizes) == 1
    layer_sizes = [N_FEATURES, *hidden_sizes, N_CLASSES]
    for seed in range(100):
        rng = np.random.default_rng(seed)
        model = mlp.MLP(layer_sizes, rng, activation=activation, dtype="float64", dropout=dropout)
        for b in [layer.b for layer in model.layers]:
            b[:] = rng.normal(scale=0.1, size=b.shape)
        X, y = rng.normal(size=(N_SAMPLES, N_FEATURES)), rng.integers(0, N_CLASSES, N_SAMPLES)
        if _min_abs_preactivation(model, X) > KINK_MARGIN:
            return model, X, y
    raise AssertionError("no seed keeps every pre-activation away from 0")


def _max_gradient_error(model, X, y, weight_decay=0.0, dropout_seed=None) -> float:
    """The largest relative error between gradients() and finite differences of the loss."""

    def loss() -> float:
        rng = None if dropout_seed is None else np.random.default_rng(dropout_seed)
        return model.loss_and_gradients(X, y, weight_decay, training=dropout_seed is not None, rng=rng)

    loss()
    # Compared per array (W and b of each layer), so small gradients are checked as tightly as large ones.
    pairs = [
        (grad.copy(), array)
        for layer in model.layers
        for grad, array in ((layer.dW, layer.W), (layer.db, layer.b))
    ]
    return max(relative_error(grad, numerical_gradient(loss, array)) for grad, array in pairs)


@pytest.mark.parametrize("hidden_sizes", [[10], [10, 8]], ids=["1hidden", "2hidden"])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("activation", sorted(mlp.ACTIVATIONS))
def test_network_gradients_match_finite_differences(activation, weight_decay, hidden_sizes):
    # loss_and_gradients' backward pass is the exact derivative of its loss, L2 penalty included.
    model, X, y = _float64_problem(hidden_sizes, activation)
    error = _max_gradient_error(model, X, y, weight_decay)
    assert error < 1e-6


@pytest.mark.parametrize("activation", sorted(mlp.ACTIVATIONS))
def test_network_gradients_with_fixed_dropout_mask_match_finite_differences(activation):
    # With the same mask drawn for every evaluation, backward differentiates the dropped-out network.
    model, X, y = _float64_problem([10], activation, dropout=0.3)
    masked = model.loss_and_gradients(X, y, training=True, rng=np.random.default_rng(DROPOUT_SEED))
    assert masked != model.loss_and_gradients(X, y), "the mask should change the loss"
    error = _max_gradient_error(model, X, y, dropout_seed=DROPOUT_SEED)
    assert error < 1e-6


def _constant_hidden_model(rate: float, n_hidden: int = 200):
    """A float64 ReLU model whose hidden units all equal 1.5 and whose logits copy them (W1 = I)."""
    W0, b0 = np.full((3, n_hidden), 0.5), np.zeros(n_hidden)
    W1, b1 = np.eye(n_hidden), np.zeros(n_hidden)
    model = mlp.MLP.from_weights([W0, W1], [b0, b1], activation="relu", dropout=rate)
    return model, np.ones((50, 3))


@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_training_pass_drops_rate_of_hidden_units_and_rescales_the_rest(rate):
    # In training mode about `rate` of hidden units are zeroed and kept ones scaled by 1/(1-rate).
    model, X = _constant_hidden_model(rate)
    logits = model.forward(X, training=True, rng=np.random.default_rng(0))
    dropped = logits == 0
    assert np.mean(dropped) == pytest.approx(rate, abs=0.02)
    np.testing.assert_allclose(logits[~dropped], 1.5 / (1 - rate), rtol=1e-15)


@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_prediction_uses_no_dropout(rate):
    # predict_logits, predict_proba and a forward pass outside training see every unit, unscaled.
    model, X = _constant_hidden_model(rate)
    np.testing.assert_array_equal(model.forward(X), 1.5)
    np.testing.assert_array_equal(model.predict_logits(X), 1.5)
    np.testing.assert_allclose(model.predict_proba(X), 1 / 200, rtol=1e-12)


def test_dropout_model_predicts_like_its_weights_without_dropout():
    # Dropout changes training only: predictions equal those of the same weights with dropout 0.
    model = mlp.MLP([8, 16, 16, 3], np.random.default_rng(0), dropout=0.5)
    twin = mlp.MLP.from_weights(
        [p.copy() for p in [layer.W for layer in model.layers]],
        [p.copy() for p in [layer.b for layer in model.layers]],
        dropout=0.0,
    )
    X = np.random.default_rng(1).normal(size=(20, 8))
    np.testing.assert_array_equal(model.predict_logits(X), twin.predict_logits(X))
    np.testing.assert_array_equal(model.predict(X), twin.predict(X))


def test_default_dtype_is_float32_for_weights_gradients_and_predictions():
    # float32 is the default: weights, gradients and predictions, even for float64 or int inputs.
    model = mlp.MLP([6, 5, 3], np.random.default_rng(0))
    assert model.dtype == np.float32
    assert model.parameters().dtype == np.float32
    X = np.random.default_rng(1).normal(size=(4, 6))
    model.loss_and_gradients(X.astype(np.float32), np.array([0, 1, 2, 0]))
    assert model.gradients().dtype == np.float32
    for inputs in (X, X.astype(np.float32), np.ones((4, 6), dtype=np.int64)):
        assert model.predict_logits(inputs).dtype == np.float32
        assert model.predict_proba(inputs).dtype == np.float32
        assert np.issubdtype(model.predict(inputs).dtype, np.integer)


@pytest.mark.parametrize("dtype", ["float64", np.float64])
def test_float64_on_request(dtype):
    # dtype="float64" (or np.float64) gives float64 weights and predictions, e.g. for gradient checks.
    model = mlp.MLP([6, 5, 3], np.random.default_rng(0), dtype=dtype)
    assert model.parameters().dtype == np.float64
    X = np.random.default_rng(1).normal(size=(4, 6)).astype(np.float32)
    assert model.predict_logits(X).dtype == np.float64
    assert model.predict_proba(X).dtype == np.float64


def test_parameters_are_ordered_shaped_and_counted():
    # Layers hold (fan_in, fan_out) weights and zero biases, all views into the one parameter
    # vector that optimizers update (and likewise for gradients).
    model = mlp.MLP([6, 5, 4, 3], np.random.default_rng(0))
    shapes = [array.shape for layer in model.layers for array in (layer.W, layer.b)]
    assert shapes == [(6, 5), (5,), (5, 4), (4,), (4, 3), (3,)]
    vector, gradient = model.parameters(), model.gradients()
    assert vector.shape == gradient.shape == (model.n_parameters,)
    assert model.n_parameters == sum(int(np.prod(s)) for s in shapes)
    for layer in model.layers:
        assert np.shares_memory(layer.W, vector) and np.shares_memory(layer.b, vector)
        assert np.shares_memory(layer.dW, gradient) and np.shares_memory(layer.db, gradient)
    assert all(not b.any() for b in [layer.b for layer in model.layers])
    assert (model.n_features, model.n_classes) == (6, 3)


@pytest.mark.parametrize("label", [-1, 3])
def test_loss_and_gradients_checks_labels_unless_told_they_are_checked(label):
    # A label outside 0..n_classes-1 is a ValueError by default (-1 would wrap to the last class);
    # fit, having checked its labels once, passes checked=True to skip the per-step check.
    model = mlp.MLP([4, 5, 3], np.random.default_rng(0))
    X = np.ones((2, 4), np.float32)
    with pytest.raises(ValueError, match=r"y has labels outside 0\.\.2"):
        model.loss_and_gradients(X, np.array([0, label]))
    assert model.loss_and_gradients(X, np.array([0, 2]), checked=True) == model.loss_and_gradients(
        X, np.array([0, 2])
    )


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_a_training_step_allocates_no_array(dropout):
    # With a workspace, a step writes every array (outputs, masks, derivatives, dX, the loss's
    # temporaries, the weight decay's and the optimizer's) into buffers allocated once: ten steps
    # peak below half of one hidden layer's output (256 x 256 float32 is 256 KiB). What remains is
    # NumPy's own iteration buffer for broadcasting (at most 8192 elements) and Python objects.
    model = mlp.MLP([100, 256, 256, 10], np.random.default_rng(0), dropout=dropout)
    rng = np.random.default_rng(1)
    X, y = rng.random((256, 100), dtype=np.float32), rng.integers(0, 10, 256)
    workspace = Workspace(model.layer_sizes, 256, model.dtype, dropout=dropout > 0)
    index = true_index(y, 10)
    optimizer = mlp.make_optimizer("momentum", model.parameters(), 0.01)
    model.train_step(X, index, workspace, True, rng)
    model.add_weight_decay(1e-4)
    tracemalloc.start()
    try:
        for _ in range(10):
            model.train_step(X, index, workspace, True, rng)
            model.add_weight_decay(1e-4)
            optimizer.step(model.gradients())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 256 * 256 * 4 / 2


def test_train_step_gives_the_gradients_of_loss_and_gradients():
    # fit's step into a reused workspace computes bit for bit what loss_and_gradients does.
    model = mlp.MLP([20, 16, 8, 5], np.random.default_rng(0), dropout=0.3)
    rng = np.random.default_rng(1)
    X, y = rng.random((12, 20), dtype=np.float32), rng.integers(0, 5, 12)
    expected = model.loss_and_gradients(X, y, training=True, rng=np.random.default_rng(2))
    gradients = model.gradients().copy()
    workspace = Workspace(model.layer_sizes, 12, model.dtype, dropout=True)
    for _ in range(2):  # the second step reuses the workspace the first one filled
        loss = model.train_step(X, true_index(y, 5), workspace, True, np.random.default_rng(2))
        assert loss == expected
        np.testing.assert_array_equal(model.gradients(), gradients)


def test_training_with_dropout_needs_an_rng():
    # A training pass draws dropout masks, so it must be given the Generator to draw them from.
    model = mlp.MLP([4, 5, 3], np.random.default_rng(0), dropout=0.5)
    with pytest.raises(ValueError, match="needs an rng"):
        model.forward(np.ones((2, 4), np.float32), training=True)


def test_predictions_are_consistent_and_independent_of_chunking():
    # Probabilities are the softmax of the logits, predict is their argmax, and chunking changes nothing.
    model = mlp.MLP([6, 7, 3], np.random.default_rng(0), dtype="float64")
    X = np.random.default_rng(1).normal(size=(11, 6))
    logits = model.predict_logits(X)
    np.testing.assert_allclose(model.predict_logits(X, batch_size=3), logits, rtol=1e-12)
    probs = model.predict_proba(X)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-12)
    np.testing.assert_array_equal(model.predict(X), np.argmax(logits, axis=1))
    assert model.predict_logits(np.zeros((0, 6))).shape == (0, 3)


def test_same_seed_gives_identical_initial_weights():
    # Initialisation draws only from the given Generator; another seed gives other weights.
    first, second = (mlp.MLP([6, 5, 3], np.random.default_rng(4)) for _ in range(2))
    other = mlp.MLP([6, 5, 3], np.random.default_rng(5))
    assert all(np.array_equal(a, b) for a, b in zip(first.parameters(), second.parameters(), strict=True))
    assert not np.array_equal(first.layers[0].W, other.layers[0].W)


@pytest.mark.parametrize(
    "layer_sizes",
    [[64], [], [64, 0, 10], [64, -3, 10], [64, 2.5, 10], [64, 10, 0], [64, True, 10], [64, "8", 10]],
)
def test_rejects_invalid_layer_sizes(layer_sizes):
    # Layer sizes must be at least two positive integers; the message shows the sizes given.
    with pytest.raises(ValueError, match="layer"):
        mlp.MLP(layer_sizes, np.random.default_rng(0))


@pytest.mark.parametrize(
    ("argument", "value", "choices"),
    [
        ("activation", "relux", mlp.ACTIVATIONS),
        ("init", "xavier", mlp.INITIALIZERS),
        ("dtype", "float16", ["float32", "float64"]),
    ],
)
def test_unknown_names_list_the_valid_choices(argument, value, choices):
    # An unknown activation, init or dtype names the bad value and lists the valid ones.
    expected = f"unknown {argument} {value!r}; choose from {sorted(choices)}"
    with pytest.raises(ValueError, match=re.escape(expected)):
        mlp.MLP([4, 3, 2], np.random.default_rng(0), **{argument: value})


@pytest.mark.parametrize("dropout", [-0.1, 1.0, 1.5])
def test_rejects_dropout_outside_unit_interval(dropout):
    # Dropout is a probability in [0, 1); 1 would drop every unit.
    with pytest.raises(ValueError, match=r"dropout must lie in \[0, 1\)"):
        mlp.MLP([4, 3, 2], np.random.default_rng(0), dropout=dropout)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"dropout": "0.5"}, "dropout must be a number, got '0.5' (str)"),
        ({"dropout": None}, "dropout must be a number, got None (NoneType)"),
        ({"dropout": True}, "dropout must be a number, got True (bool)"),
        ({"dtype": 5}, "unknown dtype 5; choose from ['float32', 'float64']"),
        ({"activation": ["relu"]}, "unknown activation ['relu']; choose from"),
        ({"init": {"he": 1}}, "unknown init {'he': 1}; choose from"),
        ({"rng": 42}, "rng must be a numpy.random.Generator, e.g. np.random.default_rng(42), got int"),
        ({"layer_sizes": "784"}, "layer_sizes must be a list of positive integers, got '784'"),
        ({"max_bytes": "8"}, "max_bytes must be a number, got '8' (str)"),
    ],
    ids=[
        "dropout_str",
        "dropout_none",
        "dropout_bool",
        "dtype_int",
        "activation_list",
        "init_dict",
        "rng_int",
        "sizes_str",
        "max_bytes_str",
    ],
)
def test_wrong_types_are_value_errors_naming_the_argument(arguments, message):
    # Strings, None, bools, lists and dicts where numbers or names belong are ValueErrors, never TypeErrors.
    arguments = {"layer_sizes": [4, 3, 2], "rng": np.random.default_rng(0), **arguments}
    with pytest.raises(ValueError, match=re.escape(message)):
        mlp.MLP(**arguments)


def test_absurd_sizes_are_refused_without_allocating():
    # A hidden layer of ten million units (about 89 GiB to build) is refused before anything is
    # allocated, with the estimate and the sizes in the message.
    tracemalloc.start()
    with pytest.raises(ValueError) as raised:
        mlp.MLP([784, 10_000_000, 10], np.random.default_rng(0))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    message = str(raised.value)
    assert re.match(r"layer_sizes \[784, 10000000, 10\] need about 88.\d GiB to build in float32", message), (
        message
    )
    assert "over the max_bytes limit of 8.0 GiB; use smaller layers" in message
    assert peak < 1 << 20, peak  # refused from the sizes alone, before any allocation


@pytest.mark.parametrize(
    ("max_bytes", "builds"),
    [(None, True), (mlp.model_bytes([6, 5, 3]), True), (mlp.model_bytes([6, 5, 3]) - 1, False)],
    ids=["no_limit", "at_the_limit", "one_byte_short"],
)
def test_max_bytes_is_compared_with_the_build_estimate(max_bytes, builds):
    # MLP builds exactly when memory.model_bytes is within max_bytes; None switches the check off.
    build = lambda: mlp.MLP([6, 5, 3], np.random.default_rng(0), max_bytes=max_bytes)
    if builds:
        assert build().n_parameters == 53
    else:
        with pytest.raises(ValueError, match="over the max_bytes limit"):
            build()


def test_squared_weight_norm_sums_the_weights_but_not_the_biases():
    # The L2 penalty's sum covers every weight matrix and no bias.
    model = _constant_hidden_model(0.0)[0]
    assert model.squared_weight_norm() == 3 * 200 * 0.25 + 200


@pytest.mark.parametrize(
    ("X", "message"),
    [
        (np.zeros(6), "must be 2-D"),
        (np.zeros((2, 3, 6)), "must be 2-D"),
        (np.zeros((4, 5)), "has 5 features but the model expects 6"),
        (np.array([[0, 1, 2, 3, 4, np.nan]]), "NaN or inf"),
        (np.array([[0, 1, 2, 3, 4, np.inf]]), "NaN or inf"),
        (np.full((2, 6), "a"), "real numbers"),
        (np.full((2, 6), 1e39), r"X holds values up to 1e\+39 .* float32 .*; scale the inputs"),
        (np.full((2, 6), 1e38), r"X is too large for the model: its logits overflow float32"),
    ],
    ids=["1d", "3d", "wrong_features", "nan", "inf", "strings", "beyond_float32", "logits_overflow"],
)
def test_predict_rejects_bad_inputs(X, message):
    # Predictions validate X at the boundary with a message that names the problem: never NaN
    # probabilities or arbitrary classes from values the model's dtype cannot hold.
    model = mlp.MLP.from_weights(
        [np.ones((6, 5), np.float32), np.ones((5, 3), np.float32)],
        [np.zeros(5, np.float32), np.zeros(3, np.float32)],
    )
    for predict in (model.predict, model.predict_proba, model.predict_logits):
        with pytest.raises(ValueError, match=message):
            predict(X)
