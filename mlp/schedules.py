"""Learning-rate schedules, evaluated once per epoch.

constant: lr.   step: lr * gamma ** (epoch // step_size).
cosine: lr * 0.5 * (1 + cos(pi * epoch / epochs)), from lr at the first epoch towards 0.
"""

from __future__ import annotations

import math

from mlp.validation import check_choice

SCHEDULES = ("constant", "step", "cosine")


def learning_rate_at(
    schedule: str,
    learning_rate: float,
    epoch: int,
    epochs: int,
    step_size: int = 30,
    gamma: float = 0.1,
) -> float:
    """The learning rate for `epoch` (0-based) of `epochs` under `schedule`."""
    check_choice("schedule", schedule, SCHEDULES)
    if schedule == "step":
        return learning_rate * gamma ** (epoch // step_size)
    if schedule == "cosine":
        return learning_rate * 0.5 * (1 + math.cos(math.pi * epoch / epochs))
    return learning_rate
