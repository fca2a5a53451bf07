"""Tests of fit and evaluate on the scikit-learn digits: learning, determinism, history, errors."""

import re

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import mlp
from mlp.augment import random_shifts


@pytest.fixture(scope="module")
def digits():
    """(X_train, X_test, y_train, y_test): 8x8 digits scaled to [0, 1], a quarter held out."""
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16, y, test_size=0.25, random_state=0)


def _train(
    digits,
    seed=0,
    epochs=3,
    optimizer="momentum",
    learning_rate=0.1,
    layer_sizes=(64, 32, 10),
    activation="relu",
    dropout=0.0,
    **fit_options,
):
    """A model trained on the digits training set; returns (model, history)."""
    X_train, _, y_train, _ = digits
    model = mlp.MLP(layer_sizes, np.random.default_rng(seed), activation=activation, dropout=dropout)
    result = mlp.fit(
        model,
        X_train,
        y_train,
        optimizer=mlp.make_optimizer(optimizer, model.parameters(), learning_rate),
        rng=np.random.default_rng(seed + 1),
        epochs=epochs,
        **{"batch_size": 32, **fit_options},
    )
    return model, result.history


def test_network_learns_digits(digits):
    # A [64, 64, 10] ReLU network trained for 15 short epochs classifies >= 95% of held-out digits.
    _, X_test, _, y_test = digits
    model, _ = _train(digits, layer_sizes=[64, 64, 10], epochs=15)
    scores = mlp.evaluate(model, X_test, y_test)
    assert scores["accuracy"] >= 0.95
    assert scores["accuracy"] == np.mean(model.predict(X_test) == y_test)


def test_weight_decay_shrinks_weights(digits):
    # An L2 penalty gives smaller weights than the same run without it.
    def weight_norm(model):
        return sum(float(np.sum(W.astype(np.float64) ** 2)) for W in [layer.W for layer in model.layers])

    plain, _ = _train(digits, epochs=3)
    decayed, _ = _train(digits, epochs=3, weight_decay=0.01)
    assert weight_norm(decayed) < 0.8 * weight_norm(plain)


def test_weight_decay_adds_its_penalty_to_the_training_loss(digits):
    # The reported training loss includes 0.5 * weight_decay * sum(W^2), so it exceeds the plain loss.
    _, plain = _train(digits, epochs=1)
    _, decayed = _train(digits, epochs=1, weight_decay=0.1)
    assert decayed[0]["loss"] > plain[0]["loss"]


@pytest.mark.parametrize("optimizer", ["sgd", "nesterov", "adam"])
def test_same_seed_gives_bit_identical_training(digits, optimizer):
    # Same seed and data give bit-identical weights and history, dropout and shuffling included.
    runs = [_train(digits, epochs=2, optimizer=optimizer, learning_rate=0.01, dropout=0.2) for _ in range(2)]
    (first, first_history), (second, second_history) = runs
    assert first_history == second_history
    np.testing.assert_array_equal(first.parameters(), second.parameters())


def test_different_seed_gives_different_weights(digits):
    # Another seed changes initialisation and shuffling, hence the trained weights.
    first, _ = _train(digits, seed=0, epochs=1)
    second, _ = _train(digits, seed=1, epochs=1)
    assert not any(
        np.array_equal(a, b)
        for a, b in zip(
            [layer.W for layer in first.layers], [layer.W for layer in second.layers], strict=True
        )
    )


def test_history_records_and_on_epoch_callback(digits):
    # fit returns one record per epoch with the documented keys and calls on_epoch once per epoch with it.
    X_train, X_test, y_train, y_test = digits
    seen = []
    _, history = _train(
        digits,
        epochs=3,
        eval_sets={"test": (X_test, y_test)},
        on_epoch=seen.append,
    )
    assert seen == history
    assert len(history) == 3
    assert [record["epoch"] for record in history] == [1, 2, 3]
    expected_keys = {
        "epoch",
        "learning_rate",
        "loss",
        "train_loss",
        "train_accuracy",
        "test_loss",
        "test_accuracy",
    }
    for record in history:
        assert set(record) == expected_keys
        assert all(np.isfinite(value) for value in record.values())
        assert 0 <= record["test_accuracy"] <= 1 and 0 <= record["train_accuracy"] <= 1
    assert history[-1]["loss"] < history[0]["loss"]


def test_train_figures_are_running_figures_over_the_batches(digits):
    # train_loss and train_accuracy come from the epoch's batches, each taken before its update:
    # with a single batch per epoch, they are the loss and accuracy of the weights the epoch started
    # with (the sum's order follows the shuffle, hence approx for the loss).
    X_train, _, y_train, _ = digits
    X_train, y_train = X_train.astype(np.float32), y_train
    model = mlp.MLP([64, 16, 10], np.random.default_rng(0))
    start = mlp.evaluate(model, X_train, y_train)
    optimizer = mlp.make_optimizer("sgd", model.parameters(), 0.1)
    result = mlp.fit(
        model,
        X_train,
        y_train,
        optimizer=optimizer,
        rng=np.random.default_rng(1),
        epochs=1,
        batch_size=len(X_train),
    )
    record = result.history[0]
    assert record["train_loss"] == pytest.approx(start["loss"], rel=1e-6)
    assert record["train_accuracy"] == start["accuracy"]
    assert record["loss"] == record["train_loss"]  # no weight decay: the objective is the data loss


def test_reported_objective_adds_the_final_weights_penalty(digits):
    # With weight decay, loss is train_loss plus the L2 penalty of the weights the epoch ended with,
    # computed once per epoch, not once per step.
    X_train, _, y_train, _ = digits
    model = mlp.MLP([64, 16, 10], np.random.default_rng(0))
    optimizer = mlp.make_optimizer("momentum", model.parameters(), 0.1)
    result = mlp.fit(
        model,
        X_train,
        y_train,
        optimizer=optimizer,
        rng=np.random.default_rng(1),
        epochs=1,
        batch_size=32,
        weight_decay=0.01,
    )
    record = result.history[0]
    assert record["loss"] == record["train_loss"] + 0.5 * 0.01 * model.squared_weight_norm()


def test_history_follows_the_schedule(digits):
    # Each epoch's recorded learning rate comes from the schedule, with the optimizer's rate as base.
    _, history = _train(digits, epochs=4, learning_rate=0.1, schedule="step", step_size=1, gamma=0.5)
    rates = [record["learning_rate"] for record in history]
    assert rates == pytest.approx([0.1, 0.05, 0.025, 0.0125], rel=1e-12)


def test_evaluate_matches_loss_and_accuracy_of_predictions(digits):
    # evaluate's loss is the mean cross-entropy of predict_proba and its accuracy that of predict.
    _, X_test, _, y_test = digits
    model, _ = _train(digits, epochs=1)
    scores = mlp.evaluate(model, X_test, y_test)
    probs = model.predict_proba(X_test).astype(np.float64)
    assert scores["loss"] == pytest.approx(-np.mean(np.log(probs[np.arange(len(y_test)), y_test])), rel=1e-4)
    assert scores["accuracy"] == pytest.approx(np.mean(model.predict(X_test) == y_test))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(
    ("learning_rate", "batch_size", "where"),
    [
        (1e30, 32, r"the loss is nan at epoch 1, step 2 "),
        (
            1e6,
            32,
            r"the loss reached \S+ at epoch 1, step 2, which already puts the epoch's mean over 10 times",
        ),
        (1e39, 1347, r"a weight is not finite after epoch 1 "),
    ],
    ids=["loss_not_finite", "loss_exploded", "weight_not_finite"],
)
def test_divergence_raises_a_helpful_error(digits, learning_rate, batch_size, where):
    # A huge learning rate stops training with an error naming where it happened and a lower rate.
    # Leaky ReLU on purpose: it keeps gradients flowing, so the weights overflow instead of dying.
    with pytest.raises(mlp.TrainingDivergedError) as raised:
        _train(
            digits,
            optimizer="sgd",
            learning_rate=learning_rate,
            batch_size=batch_size,
            activation="leaky_relu",
        )
    message = str(raised.value)
    assert re.search(where, message), message
    assert (
        f"(learning rate {learning_rate:g}); lower the learning rate, e.g. to {learning_rate / 10:g}"
        in message
    )


def _fit_arguments(digits):
    """Valid fit arguments for a [64, 8, 10] model, to be broken one at a time."""
    X_train, X_test, y_train, y_test = digits
    model = mlp.MLP([64, 8, 10], np.random.default_rng(0))
    return model, {
        "X": X_train[:100],
        "y": y_train[:100],
        "optimizer": mlp.SGD(model.parameters(), 0.1),
        "rng": np.random.default_rng(0),
        "epochs": 1,
        "batch_size": 10,
        "eval_sets": {"test": (X_test[:50], y_test[:50])},
    }


def _with_nan(X):
    X = X.copy()
    X[3, 5] = np.nan
    return X


def _with_inf(X):
    X = X.copy()
    X[0, 0] = -np.inf
    return X


def _with_label(y, label):
    y = y.copy()
    y[7] = label
    return y


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: {"X": a["X"][0]}, "X must be 2-D"),
        (lambda a: {"X": a["X"][:, :10]}, "X has 10 features but the model expects 64"),
        (lambda a: {"X": _with_nan(a["X"])}, "X contains NaN or inf"),
        (lambda a: {"X": _with_inf(a["X"])}, "X contains NaN or inf"),
        (lambda a: {"y": a["y"][:99]}, "y must be a vector of 100 labels"),
        (lambda a: {"y": _with_label(a["y"], 10)}, r"labels outside 0\.\.9"),
        (lambda a: {"y": _with_label(a["y"], -1)}, r"labels outside 0\.\.9"),
        (lambda a: {"y": a["y"].astype(float)}, "integer class labels"),
        (lambda a: {"y": a["y"] + 0.5}, "integer class labels"),
        (lambda a: {"batch_size": 101}, "batch_size 101 is larger than the 100 training samples"),
        (lambda a: {"batch_size": 0}, "batch_size must be a positive integer"),
        (lambda a: {"epochs": 0}, "epochs must be a positive integer"),
        (lambda a: {"epochs": -2}, "epochs must be a positive integer"),
        (lambda a: {"epochs": 2.0}, "epochs must be a positive integer"),
        (lambda a: {"weight_decay": -0.1}, "weight_decay"),
        (
            lambda a: {"schedule": "linear"},
            re.escape("unknown schedule 'linear'; choose from ['constant', 'cosine', 'step']"),
        ),
        (lambda a: {"eval_sets": {"test": (a["X"][:, :10], a["y"])}}, "test X has 10 features"),
        (lambda a: {"eval_sets": {"test": (a["X"], _with_label(a["y"], 12))}}, r"test y has labels outside"),
        (lambda a: {"X": a["X"][:0], "y": a["y"][:0]}, "X has no rows; training needs at least one sample"),
        (
            lambda a: {"eval_sets": {"test": (a["X"][:0], a["y"][:0])}},
            "eval set 'test' has no rows; evaluation needs at least one sample",
        ),
        (lambda a: {"X": a["X"] * 1e39}, r"X holds values up to 1e\+39 .* float32 .*; scale the inputs"),
        (lambda a: {"eval_sets": {"test": (a["X"] * -1e39, a["y"])}}, r"test X holds values up to 1e\+39"),
        (lambda a: {"step_size": 0}, "step_size must be a positive integer, got 0"),
        (lambda a: {"step_size": 2.5}, "step_size must be a positive integer, got 2.5"),
        (lambda a: {"gamma": 0.0}, "gamma must be a positive finite number, got 0.0"),
        (lambda a: {"gamma": "0.1"}, re.escape("gamma must be a number, got '0.1' (str)")),
        (lambda a: {"weight_decay": "0.1"}, re.escape("weight_decay must be a number, got '0.1' (str)")),
        (lambda a: {"weight_decay": None}, re.escape("weight_decay must be a number, got None (NoneType)")),
        (lambda a: {"weight_decay": True}, re.escape("weight_decay must be a number, got True (bool)")),
        (lambda a: {"epochs": "3"}, re.escape("epochs must be a positive integer, got '3' (str)")),
        (lambda a: {"batch_size": None}, re.escape("batch_size must be a positive integer, got None")),
        (lambda a: {"augment": "shifts"}, "augment must be a function"),
        (
            lambda a: {"on_epoch": "print"},
            re.escape("on_epoch must be a function (record) or None, got 'print'"),
        ),
        (
            lambda a: {"rng": 0},
            r"rng must be a numpy.random.Generator, e.g. np.random.default_rng\(42\), got int",
        ),
        (
            lambda a: {"eval_sets": {"train": (a["X"], a["y"])}},
            "eval_sets has a set named 'train', but fit reports train_loss and train_accuracy itself",
        ),
    ],
    ids=[
        "X_1d",
        "X_features",
        "X_nan",
        "X_inf",
        "y_length",
        "y_too_big",
        "y_negative",
        "y_float",
        "y_fraction",
        "batch_too_big",
        "batch_zero",
        "epochs_zero",
        "epochs_negative",
        "epochs_float",
        "weight_decay_negative",
        "schedule_unknown",
        "eval_X",
        "eval_y",
        "X_empty",
        "eval_empty",
        "X_beyond_float32",
        "eval_X_beyond_float32",
        "step_size_zero",
        "step_size_float",
        "gamma_zero",
        "gamma_string",
        "weight_decay_string",
        "weight_decay_none",
        "weight_decay_bool",
        "epochs_string",
        "batch_size_none",
        "augment_not_callable",
        "on_epoch_not_callable",
        "rng_not_generator",
        "eval_set_named_train",
    ],
)
def test_fit_rejects_bad_arguments_before_training(digits, change, message):
    # fit validates its inputs with a clear ValueError and leaves the model untouched.
    model, arguments = _fit_arguments(digits)
    before = model.parameters().copy()
    arguments.update(change(arguments))
    with pytest.raises(ValueError, match=message):
        mlp.fit(model, **arguments)
    np.testing.assert_array_equal(model.parameters(), before)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_fit_refuses_an_optimizer_built_on_another_models_parameters(digits, optimizer):
    # issue 20: it stepped the other model's vector, so fit trained nothing and reported losses anyway.
    model, arguments = _fit_arguments(digits)
    other = mlp.MLP(model.layer_sizes, np.random.default_rng(9))
    before, other_before = model.parameters().copy(), other.parameters().copy()
    arguments["optimizer"] = mlp.make_optimizer(optimizer, other.parameters(), 0.1)
    with pytest.raises(
        ValueError, match=r"optimizer was built on other parameters than the model's; build it on"
    ):
        mlp.fit(model, **arguments)
    np.testing.assert_array_equal(model.parameters(), before)
    np.testing.assert_array_equal(other.parameters(), other_before)


def test_select_best_keeps_the_weights_of_the_best_validation_epoch():
    # With select_best the model ends at the (latest) epoch of best validation accuracy: the same
    # weights as a run stopped at that epoch (a constant schedule makes the two comparable).
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16
    sets = {"val": (X[1200:], y[1200:])}

    def run(epochs: int, select_best: str | None):
        rng = np.random.default_rng(3)
        model = mlp.MLP([64, 16, 10], rng)
        optimizer = mlp.make_optimizer("sgd", model.parameters(), 0.5)
        result = mlp.fit(
            model,
            X[:1200],
            y[:1200],
            optimizer=optimizer,
            rng=rng,
            epochs=epochs,
            batch_size=64,
            eval_sets=sets,
            select_best=select_best,
        )
        return model, result

    selected, result = run(8, "val")
    assert result.kept_epoch == mlp.best_epoch(result.history, "val")
    assert result.kept == result.history[result.kept_epoch - 1]
    assert result.kept_epoch < 8, "pick a setting whose validation accuracy does not peak at the last epoch"
    stopped, stopped_result = run(result.kept_epoch, None)
    assert stopped_result.kept_epoch == result.kept_epoch  # without select_best: the last epoch
    np.testing.assert_array_equal(selected.parameters(), stopped.parameters())


def test_select_best_must_name_an_evaluation_set():
    # Selecting on a set that is not evaluated is a clear error, not a silent no-op.
    rng = np.random.default_rng(0)
    model = mlp.MLP([4, 3], rng)
    optimizer = mlp.make_optimizer("sgd", model.parameters(), 0.1)
    with pytest.raises(ValueError, match="select_best names 'val'"):
        mlp.fit(
            model,
            np.zeros((4, 4)),
            np.zeros(4, dtype=int),
            optimizer=optimizer,
            rng=rng,
            epochs=1,
            batch_size=2,
            select_best="val",
        )


def test_best_epoch_prefers_the_later_of_equal_scores():
    # Ties in validation accuracy go to the later (more annealed) epoch.
    history = [{"epoch": e, "val_accuracy": a} for e, a in enumerate([0.5, 0.9, 0.8, 0.9, 0.7], 1)]
    assert mlp.best_epoch(history, "val") == 4


def test_fit_leaves_the_optimizer_at_its_base_learning_rate(digits):
    # A schedule changes the rate during fit only: a second fit starts again from the base rate.
    X_train, X_test, y_train, y_test = digits
    rng = np.random.default_rng(0)
    model = mlp.MLP([64, 8, 10], rng)
    optimizer = mlp.make_optimizer("sgd", model.parameters(), 0.1)
    arguments = {
        "optimizer": optimizer,
        "rng": rng,
        "epochs": 3,
        "batch_size": 64,
        "schedule": "step",
        "step_size": 1,
        "gamma": 0.5,
    }
    first = mlp.fit(model, X_train, y_train, **arguments)
    second = mlp.fit(model, X_train, y_train, **arguments)
    assert optimizer.learning_rate == 0.1
    rates = [[record["learning_rate"] for record in result.history] for result in (first, second)]
    assert rates == [[0.1, 0.05, 0.025]] * 2


def _linear_model():
    """A float32 [2, 2] linear model whose logits for a row [v, v] are [2v, -2v]."""
    return mlp.MLP.from_weights([np.array([[1, -1], [1, -1]], np.float32)], [np.zeros(2, np.float32)])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(
    ("X", "set_name", "message"),
    [
        (np.zeros((0, 2)), "test", "test X has no rows; evaluation needs at least one sample"),
        (np.zeros((0, 2)), "", "X has no rows"),
        (
            np.full((3, 2), 1e39),
            "test",
            r"test X holds values up to 1e\+39 in absolute value, beyond the largest float32 \(3.4e\+38\) "
            r"the model computes in; scale the inputs, e.g. to \[0, 1\]",
        ),
        (
            np.full((3, 2), 1e38),
            "",
            r"X is too large for the model: its logits overflow float32 \(the largest \|value\| in X is "
            r"1e\+38\); scale the inputs, e.g. to \[0, 1\]",
        ),
        (np.full((3, 2), 3e38), "val", "val X is too large for the model: its logits overflow float32"),
    ],
    ids=["empty", "empty_unnamed", "beyond_float32", "loss_overflows", "logits_overflow"],
)
def test_evaluate_raises_instead_of_returning_nan(X, set_name, message):
    # An empty set, values beyond the model's dtype, or inputs whose logits or loss overflow raise a
    # ValueError naming the set and the fix; evaluate never returns a NaN or infinite loss.
    with pytest.raises(ValueError, match=message):
        mlp.evaluate(_linear_model(), X, np.ones(len(X), dtype=int), set_name=set_name)


def _returns_float64(X, rng):
    return X.astype(np.float64)


def _drops_a_column(X, rng):
    return X[:, 1:]


def _returns_a_list(X, rng):
    return X.tolist()


@pytest.mark.parametrize(
    ("augment", "message"),
    [
        (
            random_shifts(28, 2),
            r"random_shifts\(28, 2\) shifts 28x28 images, rows of 784 pixels, but got a batch of shape "
            r"\(10, 64\); build it with the side of your images",
        ),
        (
            _returns_float64,
            re.escape(
                "augment must return an array of the batch's shape (10, 64) and dtype float32, got float64"
            ),
        ),
        (_drops_a_column, re.escape("shape (10, 64) and dtype float32, got float32 of shape (10, 63)")),
        (_returns_a_list, "and dtype float32, got list; fix the augment function"),
    ],
    ids=["wrong_image_side", "wrong_dtype", "wrong_shape", "not_an_array"],
)
def test_bad_augment_is_a_value_error_before_any_update(digits, augment, message):
    # An augmenter for other images, or one returning another shape, dtype or type, stops fit with a
    # ValueError at the first batch, before the model changes (never an AssertionError).
    model, arguments = _fit_arguments(digits)
    before = model.parameters().copy()
    with pytest.raises(ValueError, match=message):
        mlp.fit(model, **{**arguments, "augment": augment})
    np.testing.assert_array_equal(model.parameters(), before)
