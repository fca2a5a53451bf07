"""Tests of the divergence rule: exploding runs stop early, naming their cause; healthy ones never stop."""

import math
import re

import numpy as np
import pytest
from sklearn.datasets import load_digits

import mlp
from mlp.augment import random_shifts
from mlp.divergence import EPOCH_FACTOR, DivergenceWatch

UNIFORM_LOSS = math.log(10)


@pytest.fixture(scope="module")
def digits():
    """The 8x8 digits as float32 rows scaled to [0, 1], like the pipeline's MNIST pixels."""
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y


def _fit(digits, optimizer="sgd", learning_rate=0.1, hidden=(32,), dropout=0.0, scale=1.0, **fit_options):
    """fit() a fresh [64, *hidden, 10] ReLU model on the digits (inputs times `scale`): (model, result)."""
    X, y = digits
    rng = np.random.default_rng(0)
    model = mlp.MLP([64, *hidden, 10], rng, dropout=dropout)
    optimizer = mlp.make_optimizer(optimizer, model.parameters(), learning_rate)
    options = {"epochs": 100, "batch_size": 32, **fit_options}
    return model, mlp.fit(model, X * np.float32(scale), y, optimizer=optimizer, rng=rng, **options)


LEARNING_RATE_FIX = r"\(learning rate 100\); lower the learning rate, e.g. to 10$"
WEIGHT_DECAY_FIX = r"lower weight_decay, e.g. to 0.001$"
EXPLOSIONS = {
    "learning rate 100": ({"learning_rate": 100}, r"epoch 1, step [23], .*" + LEARNING_RATE_FIX),
    "learning rate 100, momentum": ({"optimizer": "momentum", "learning_rate": 100}, LEARNING_RATE_FIX),
    "weight decay 1e308": (
        {"weight_decay": 1e308},
        r"the loss is inf at epoch 1, step 1, before any update \(weight_decay 1e\+308: its L2 penalty "
        r"was inf before the first update\); " + WEIGHT_DECAY_FIX,
    ),
    "weight decay 1e6": (
        {"weight_decay": 1e6},
        r"\(weight_decay 1e\+06: its L2 penalty was \S+ before the first update, against a data loss "
        r"of \S+\); " + WEIGHT_DECAY_FIX,
    ),
    "weight decay 1e6, nesterov": ({"optimizer": "nesterov", "weight_decay": 1e6}, WEIGHT_DECAY_FIX),
    "decay step overshoots": (
        {"learning_rate": 1e4, "weight_decay": 1e-3},
        r"learning_rate \* weight_decay is 10, so each weight-decay step overshoots zero\); "
        r"lower the learning rate, e.g. to 100, or weight_decay$",
    ),
    "raw pixel values": (
        {"scale": 255},
        r"\(the loss was already \S+ before the first update, and the largest \|value\| in X is 255\); "
        r"X is too large for the model: scale the inputs, e.g. to \[0, 1\]$",
    ),
    "inputs of 1e30": (
        {"scale": 1e30},
        r"the largest \|value\| in X is 1e\+30\); X is too large for the model",
    ),
}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(("settings", "message"), EXPLOSIONS.values(), ids=EXPLOSIONS)
def test_exploding_runs_stop_in_their_first_epoch_naming_the_cause(digits, settings, message):
    # A run whose loss explodes, finite or not, stops within its first epoch (not after 100 epochs at
    # chance), and the message blames the setting to change: the learning rate, weight_decay or X.
    with pytest.raises(mlp.TrainingDivergedError) as raised:
        _fit(digits, **settings)
    text = str(raised.value)
    assert text.startswith("training diverged: ") and " at epoch 1, " in text, text
    assert re.search(message, text), text


HEALTHY = {
    "sgd 0.1": {},
    "momentum 0.9": {"optimizer": "momentum"},
    "nesterov, cosine": {"optimizer": "nesterov", "schedule": "cosine"},
    "adam 1e-3": {"optimizer": "adam", "learning_rate": 1e-3},
    "dropout 0.3, shifts": {
        "optimizer": "nesterov",
        "schedule": "cosine",
        "hidden": (128,),
        "dropout": 0.3,
        "augment": random_shifts(8, 1),
    },
    "weight decay 1e-3": {"weight_decay": 1e-3},
    "batches of one": {"batch_size": 1, "epochs": 2},
}


@pytest.mark.parametrize("settings", HEALTHY.values(), ids=HEALTHY)
def test_healthy_recipes_are_never_stopped_and_stay_far_below_the_limit(digits, settings):
    # Our recipes train to the end, and no epoch's loss comes within EPOCH_FACTOR times of the limit
    # (it stays under a uniform guess's loss, while the limit is at least EPOCH_FACTOR times that).
    _, result = _fit(digits, **{"epochs": 15, **settings})
    losses = [record["loss"] for record in result.history]
    assert max(losses) < UNIFORM_LOSS, losses
    assert losses[-1] < losses[0]


def _watch(n_samples=1000, weight_decay=0.0, squared_weight_norm=0.0):
    """A DivergenceWatch for a 10-class run on `n_samples` rows of zeros."""
    return DivergenceWatch(np.zeros((n_samples, 4), np.float32), 10, weight_decay, squared_weight_norm)


def test_one_wild_batch_does_not_stop_an_epoch_whose_mean_stays_under_the_limit():
    # A single-sample batch with a huge loss (batch-1 SGD on MNIST had one of 3386) is noise, not divergence.
    watch, total = _watch(n_samples=1000), 0.0
    for step in range(1000):
        loss = 3386.0 if step == 1 else 2.5
        total += loss
        watch.check_step(loss, total, 0, step, 0.1)
    watch.check_epoch(total / 1000, 0, 0.1)


def test_the_running_sum_stops_an_epoch_as_soon_as_its_mean_must_exceed_the_limit():
    # Losses are never negative, so once the running sum alone passes EPOCH_FACTOR * starting loss *
    # n_samples, the epoch is stopped at that step instead of at its end.
    watch, limit = _watch(n_samples=1000), EPOCH_FACTOR * 2.5 * 1000
    watch.check_step(2.5, 2.5, 0, 0, 0.1)
    watch.check_step(limit - 10, limit - 7.5, 0, 1, 0.1)
    with pytest.raises(
        mlp.TrainingDivergedError, match=r"at epoch 1, step 3, which already puts the epoch's mean"
    ):
        watch.check_step(20.0, limit + 12.5, 0, 2, 0.1)


@pytest.mark.parametrize(
    ("first_loss", "weight_decay", "squared_weight_norm", "learning_rate", "cause"),
    [
        (2.5, 0.0, 0.0, 0.1, r"\(learning rate 0.1\); lower the learning rate, e.g. to 0.01$"),
        (2.5, 1e-4, 100.0, 0.1, r"lower the learning rate, e.g. to 0.01$"),
        (2.5 + 5e7, 1e6, 100.0, 0.1, r"\(weight_decay 1e\+06: its L2 penalty was 5e\+07 .*e.g. to 0.001$"),
        (2.5 + 50.0, 1.0, 100.0, 0.01, r"weight_decay 1: .* e.g. to 0.001$"),
        (2.5, 1e-3, 100.0, 1e4, r"learning_rate \* weight_decay is 10, .* e.g. to 100, or weight_decay$"),
        (300.0, 0.0, 0.0, 0.1, r"the loss was already 300 before the first update.*scale the inputs"),
    ],
    ids=[
        "learning rate",
        "small weight decay",
        "dominant penalty",
        "penalty 20x",
        "decay overshoots",
        "inputs",
    ],
)
def test_the_cause_named_follows_the_starting_state(
    first_loss, weight_decay, squared_weight_norm, learning_rate, cause
):
    # The blame goes to weight_decay if its penalty outweighed the data loss at the start, to the
    # inputs if the data loss started over INPUT_FACTOR x a uniform guess's, else to the learning rate.
    watch = _watch(weight_decay=weight_decay, squared_weight_norm=squared_weight_norm)
    watch.check_step(first_loss, first_loss, 0, 0, learning_rate)
    with pytest.raises(mlp.TrainingDivergedError) as raised:
        watch.check_step(math.nan, math.nan, 0, 1, learning_rate)
    assert str(raised.value).startswith("training diverged: the loss is nan at epoch 1, step 2 (")
    assert re.search(cause, str(raised.value)), str(raised.value)


@pytest.mark.parametrize("loss", [math.inf, math.nan])
def test_a_first_loss_that_is_not_finite_blames_the_inputs(loss):
    # Before any update no learning rate can be at fault: a non-finite first loss means X is too large.
    with pytest.raises(mlp.TrainingDivergedError, match=r"before any update \(the loss was not finite"):
        _watch().check_step(loss, loss, 0, 0, 0.1)
