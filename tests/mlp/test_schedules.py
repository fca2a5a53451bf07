"""Tests of the per-epoch learning-rate schedules."""

import itertools
import re

import pytest

import mlp


@pytest.mark.parametrize("epoch", [0, 1, 7, 99])
def test_constant_schedule_never_changes(epoch):
    # "constant" returns the base rate at every epoch.
    assert mlp.learning_rate_at("constant", 0.05, epoch, 100) == 0.05


@pytest.mark.parametrize(
    ("epoch", "expected"),
    [(0, 0.2), (2, 0.2), (3, 0.1), (5, 0.1), (6, 0.05), (9, 0.025)],
)
def test_step_schedule_decays_every_step_size_epochs(epoch, expected):
    # "step" multiplies the rate by gamma once per step_size epochs: lr * gamma ** (epoch // step_size).
    rate = mlp.learning_rate_at("step", 0.2, epoch, 10, step_size=3, gamma=0.5)
    assert rate == pytest.approx(expected, rel=1e-15)


def test_step_schedule_defaults_to_tenfold_every_30_epochs():
    # The default step schedule divides the rate by 10 at epochs 30 and 60.
    rates = [mlp.learning_rate_at("step", 0.1, epoch, 90) for epoch in (0, 29, 30, 59, 60)]
    assert rates == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001], rel=1e-12)


@pytest.mark.parametrize(
    ("epoch", "expected"),
    [(0, 0.1), (5, 0.05), (10, 0.0), (2, 0.1 * 0.5 * (1 + 0.8090169943749475))],
)
def test_cosine_schedule_values(epoch, expected):
    # "cosine" starts at lr, halves at mid-run and follows 0.5 (1 + cos(pi epoch / epochs)).
    rate = mlp.learning_rate_at("cosine", 0.1, epoch, 10)
    assert rate == pytest.approx(expected, rel=1e-12, abs=1e-18)


def test_cosine_schedule_decreases_and_stays_positive_during_training():
    # Over epochs 0..epochs-1 the cosine rate strictly falls but never reaches 0.
    rates = [mlp.learning_rate_at("cosine", 0.1, epoch, 20) for epoch in range(20)]
    assert all(a > b for a, b in itertools.pairwise(rates))
    assert rates[-1] > 0


@pytest.mark.parametrize("name", ["linear", "Cosine", ""])
def test_unknown_schedule_lists_valid_names(name):
    # An unknown schedule is rejected with the valid names listed.
    expected = f"unknown schedule {name!r}; choose from {sorted(mlp.SCHEDULES)}"
    with pytest.raises(ValueError, match=re.escape(expected)):
        mlp.learning_rate_at(name, 0.1, 0, 10)


def test_every_schedule_in_the_table_is_tested_here():
    # Adding a schedule to SCHEDULES must come with its values test in this file.
    assert set(mlp.SCHEDULES) == {"constant", "step", "cosine"}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"step_size": 0}, "step_size must be a positive"),
        ({"step_size": "30"}, re.escape("step_size must be a positive integer, got '30' (str)")),
        ({"gamma": 0.0}, "gamma must be a positive finite number, got 0.0"),
        ({"gamma": "0.1"}, re.escape("gamma must be a number, got '0.1' (str)")),
        ({"learning_rate": "0.1"}, re.escape("learning_rate must be a number, got '0.1' (str)")),
        ({"epoch": -1}, "epoch must be an integer >= 0, got -1"),
        ({"epoch": 1.5}, "epoch must be an integer >= 0, got 1.5"),
    ],
)
def test_impossible_schedule_lengths_are_clear_errors(arguments, message):
    # Zero epochs or a zero step size would divide by zero, and wrong types would be TypeErrors;
    # they are named instead, for every schedule.
    arguments = {"learning_rate": 0.1, "epoch": 0, "epochs": 10, **arguments}
    for schedule in mlp.SCHEDULES:
        with pytest.raises(ValueError, match=message):
            mlp.learning_rate_at(schedule, **arguments)
