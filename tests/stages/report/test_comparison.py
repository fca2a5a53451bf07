"""The report's comparison: a best architecture is named only when the data support it."""

from __future__ import annotations

import numpy as np
import pytest

from stages.report.comparison import Comparison
from stages.report.inputs import Architecture, RunResult

Y_TEST = np.zeros(200, dtype=np.int64)


def _run(name: str, seed: int, n_wrong: int, offset: int = 0) -> RunResult:
    """A run that misclassifies test images offset .. offset + n_wrong - 1 (all labelled 0)."""
    predicted = np.zeros(len(Y_TEST), dtype=np.int64)
    predicted[offset : offset + n_wrong] = 1
    accuracy = 1 - n_wrong / len(Y_TEST)
    return RunResult(
        name=f"{name}-{seed}",
        seed=seed,
        metrics={"accuracy": accuracy},
        per_class={},
        macro_f1=accuracy,
        train={},
        seconds=1.0,
        classification="",
        history={},
        first_layer=np.zeros((1, 1)),
        predicted=predicted,
        confidence=np.ones(len(Y_TEST)),
    )


def _architecture(name: str, wrong_per_seed: list[int]) -> Architecture:
    return Architecture(name, {}, [_run(name, 40 + i, n) for i, n in enumerate(wrong_per_seed)])


def test_a_clear_lead_on_the_same_images_names_the_best():
    # 30 images only `weak` gets wrong, none the other way round: McNemar p = 2 / 2**30, `strong` is best.
    comparison = Comparison.of([_architecture("strong", [0]), _architecture("weak", [30])], Y_TEST)
    assert comparison.best == "strong" and comparison.seed == 40
    [pair] = comparison.pairs
    assert (pair.first_only, pair.second_only) == (30, 0) and pair.p_value == 2 / 2**30
    assert "its lead over weak is significant" in comparison.headline


def test_a_small_lead_is_not_called_a_win():
    # 3 discordant images one way and 0 the other: p = 0.25, so no architecture is named best.
    comparison = Comparison.of([_architecture("a", [0]), _architecture("b", [3])], Y_TEST)
    assert comparison.best is None and comparison.pairs[0].p_value == 0.25
    assert "not significant" in comparison.headline and "cannot be ranked" in comparison.headline


def test_one_seed_says_the_spread_is_unknown():
    # With one seed per architecture the report says it cannot tell seed noise from a real difference.
    comparison = Comparison.of([_architecture("a", [0]), _architecture("b", [3])], Y_TEST)
    assert comparison.seed_tests == [] and "make seed-study" in comparison.seed_sentence
    assert comparison.summary == comparison.headline


@pytest.mark.parametrize(
    ("strong", "weak", "beyond"),
    [([0, 1, 2, 3, 4], [10, 11, 12, 13, 14], True), ([0, 5, 2, 7, 4], [3, 6, 1, 8, 9], False)],
    ids=["separated", "overlapping"],
)
def test_seeds_tell_whether_a_difference_exceeds_the_seed_spread(strong, weak, beyond):
    # Five seeds each: fully separated accuracies (p = 2/252) differ beyond the spread; overlapping do not.
    comparison = Comparison.of([_architecture("strong", strong), _architecture("weak", weak)], Y_TEST)
    [test] = comparison.seed_tests
    assert test.significant is beyond
    assert ("by more than the seed-to-seed spread" in comparison.seed_sentence) is beyond
    if beyond:
        assert test.p_value == pytest.approx(2 / 252)
    # The page's first line says what both tests say: the paired one, then the seeds'.
    assert comparison.summary.startswith(comparison.headline)
    said = "difference strong–weak exceeds the seed-to-seed spread" if beyond else "no difference exceeds"
    assert said in comparison.summary


def test_too_few_seeds_to_decide_are_said_so():
    # With two seeds even fully separated runs give p = 1/3: the report says the spread cannot decide.
    comparison = Comparison.of([_architecture("a", [0, 1]), _architecture("b", [10, 11])], Y_TEST)
    assert "cannot reach 5%" in comparison.seed_sentence and "use 5 seeds or more" in comparison.seed_sentence
    assert comparison.headline.startswith("a has the highest test accuracy with seed 40")
    assert comparison.summary.endswith(
        "The 2 seeds are too few to tell differences from the seed-to-seed spread."
    )
