"""How the architectures compare, said no more strongly than the data allows.

Two questions, two tests (stages.common.significance): on the same test images, does one
architecture's run classify more of them correctly than another's (McNemar, on the first
seed's runs, Holm-corrected over all pairs)? And across seeds, do two architectures differ by
more than retraining with another seed moves each of them (exact rank-sum test over the
seeds' accuracies, Holm-corrected)? The second needs several seeds in params.yaml.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from statistics import mean

from mlp.arrays import IntArray
from stages.common.significance import PairTest, compare_pairs, holm, rank_sum_exact, verdict
from stages.report.inputs import Architecture

ALPHA = 0.05


@dataclass(frozen=True)
class SeedTest:
    """Whether two architectures' accuracies over the seeds differ (exact rank-sum test)."""

    first: str
    second: str
    p_value: float
    p_holm: float

    @property
    def significant(self) -> bool:
        return self.p_holm <= ALPHA


@dataclass(frozen=True)
class Comparison:
    seed: int  # the seed whose runs the paired (McNemar) tests compare
    pairs: list[PairTest]
    best: str | None  # named only when its lead over every other is significant
    headline: str
    seed_tests: list[SeedTest]  # empty with a single seed
    seed_sentence: str
    summary: str  # the page's first line: the headline and what the seeds add, never at odds with either

    @classmethod
    def of(cls, architectures: list[Architecture], y_test: IntArray) -> Comparison:
        """Both comparisons of `architectures`, whose predictions are of the test labels `y_test`."""
        correct = {arch.name: arch.chosen.predicted == y_test for arch in architectures}
        pairs = compare_pairs(correct, ALPHA)
        which = f" with seed {architectures[0].chosen.seed}" if len(architectures[0].runs) > 1 else ""
        accuracies = {arch.name: arch.chosen.metrics["accuracy"] for arch in architectures}
        best, headline = verdict(accuracies, pairs, which)
        seed_tests = _seed_tests(architectures)
        return cls(
            architectures[0].chosen.seed,
            pairs,
            best,
            headline,
            seed_tests,
            _seed_sentence(architectures, seed_tests),
            _summary(headline, architectures, seed_tests),
        )


def _summary(headline: str, architectures: list[Architecture], tests: list[SeedTest]) -> str:
    """The paired verdict on the test images, then what the seeds say about training noise."""
    n_seeds = len(architectures[0].runs)
    if not tests:
        return headline
    if 2 / math.comb(2 * n_seeds, n_seeds) * len(tests) > ALPHA:
        return f"{headline} The {n_seeds} seeds are too few to tell differences from the seed-to-seed spread."
    beyond = [f"{test.first}–{test.second}" for test in tests if test.significant]
    if not beyond:
        return f"{headline} Over the {n_seeds} seeds, no difference exceeds the seed-to-seed spread either."
    noun = "differences" if len(beyond) > 1 else "difference"
    return (
        f"{headline} Over the {n_seeds} seeds, the {noun} {_join(beyond)} exceed{'s' * (len(beyond) == 1)} "
        "the seed-to-seed spread (exact rank-sum test, Holm-corrected): that ranking is not training noise."
    )


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _seed_tests(architectures: list[Architecture]) -> list[SeedTest]:
    if len(architectures[0].runs) < 2:
        return []
    pairs = list(itertools.combinations(architectures, 2))
    p_values = [rank_sum_exact(first.accuracies, second.accuracies) for first, second in pairs]
    return [
        SeedTest(first.name, second.name, p, p_holm)
        for (first, second), p, p_holm in zip(pairs, p_values, holm(p_values), strict=True)
    ]


def _seed_sentence(architectures: list[Architecture], tests: list[SeedTest]) -> str:
    n_seeds = len(architectures[0].runs)
    if n_seeds < 2:
        return (
            "Each architecture was trained with one seed, so how much another seed would move its "
            "accuracy is not measured here: make seed-study trains five."
        )
    if len(architectures) < 2:
        return f"Only one architecture, trained with {n_seeds} seeds: nothing to compare."
    # The smallest p-value the exact test can give (the runs fully separated), after Holm's factor.
    smallest = 2 / math.comb(2 * n_seeds, n_seeds) * len(tests)
    if smallest > ALPHA:
        return (
            f"With {n_seeds} seeds per architecture the exact rank-sum test cannot reach {ALPHA:.0%} even "
            f"when every run of one beats every run of the other (p = {smallest:.2g} after Holm's "
            "correction), so the seed-to-seed spread cannot decide; use 5 seeds or more (make seed-study)."
        )
    leader = max(architectures, key=lambda arch: mean(arch.accuracies))
    against = {
        test.second if test.first == leader.name else test.first: test
        for test in tests
        if leader.name in (test.first, test.second)
    }
    beyond = [name for name, test in against.items() if test.significant]
    within = [name for name in against if name not in beyond]
    best_mean = mean(leader.accuracies)
    parts = [f"Over {n_seeds} seeds, {leader.name} has the highest mean test accuracy ({best_mean:.4f})"]
    if beyond:
        parts.append(f"it differs from {_listing(beyond, against)} by more than the seed-to-seed spread")
    if within:
        parts.append(f"its difference from {_listing(within, against)} is within the seed-to-seed spread")
    caveat = (
        " Both tests use the same test images: the rank-sum test rules out training noise only, "
        "while the paired test above asks whether a gap exceeds what sampling the test images can explain."
        if beyond
        else ""
    )
    return "; ".join(parts) + f" (exact rank-sum test over the seeds, Holm-corrected, {ALPHA:.0%})." + caveat


def _listing(names: list[str], tests: dict[str, SeedTest]) -> str:
    items = [f"{name} (p = {tests[name].p_holm:.2g})" for name in names]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
