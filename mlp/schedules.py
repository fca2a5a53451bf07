"""Learning-rate schedules, evaluated once per epoch, and the name -> function table.

constant: lr.   step: lr * gamma ** (epoch // step_size).
cosine: lr * 0.5 * (1 + cos(pi * epoch / epochs)), from lr at the first epoch towards 0.
Adding a schedule is one function plus one entry in SCHEDULES.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from mlp.validation import check_choice, check_positive

# (base learning rate, epoch (0-based), epochs, step_size, gamma) -> this epoch's learning rate
Schedule = Callable[[float, int, int, int, float], float]


def constant(learning_rate: float, epoch: int, epochs: int, step_size: int, gamma: float) -> float:
    return learning_rate


def step(learning_rate: float, epoch: int, epochs: int, step_size: int, gamma: float) -> float:
    return learning_rate * gamma ** (epoch // step_size)


def cosine(learning_rate: float, epoch: int, epochs: int, step_size: int, gamma: float) -> float:
    return learning_rate * 0.5 * (1 + math.cos(math.pi * epoch / epochs))


SCHEDULES: dict[str, Schedule] = {"constant": constant, "step": step, "cosine": cosine}


def learning_rate_at(
    schedule: str,
    learning_rate: float,
    epoch: int,
    epochs: int,
    step_size: int = 30,
    gamma: float = 0.1,
) -> float:
    """The learning rate for `epoch` (0-based) of `epochs` under the schedule named `schedule`.

    Raises ValueError for an unknown schedule or a value that would divide by zero or make
    no sense (epochs or step_size below 1, a non-positive rate or gamma, a negative epoch).
    """
    check_choice("schedule", schedule, SCHEDULES)
    check_positive("learning_rate", learning_rate)
    check_positive("epochs", epochs, integer=True)
    check_positive("step_size", step_size, integer=True)
    check_positive("gamma", gamma)
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"epoch must be an integer >= 0, got {epoch!r}")
    return SCHEDULES[schedule](learning_rate, epoch, epochs, step_size, gamma)
