"""Whether the test accuracies of architectures scored on the same images really differ.

Holds the Wilson interval for one accuracy and the exact McNemar test for a pair (both
scipy's), the Holm correction over all pairs, the report's one-sentence verdict, and the exact
rank-sum test that asks whether two architectures differ by more than their seed-to-seed
spread. Holm and the rank-sum test are ours: no installed library has Holm, and scipy's exact
Mann-Whitney is wrong with ties (its permutation method, the tests' oracle, needs two runs per
group). All of it is exact or closed form, so the same predictions give the same numbers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest


def wilson_interval(correct: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for the proportion `correct / n` (scipy's).

    Not Wald (p ± z·sqrt(p(1-p)/n)): its coverage falls short near 0 and 1, which an accuracy
    near 0.96 on 2,000 images is close enough to, and it has zero width at 0 and n. Wilson keeps
    near-nominal coverage there and stays in [0, 1]; unlike a bootstrap it is deterministic.
    """
    interval = binomtest(correct, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(interval.low), float(interval.high)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for `b` and `c` discordant pairs.

    Under the null each image the two disagree on favours either equally, so min(b, c) is a
    Binomial(b + c, 1/2) draw: scipy's exact binomial test, where the chi-square form is poor
    for small b + c. With no discordant image there is no evidence: p = 1.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be non-negative, got b={b}, c={c}")
    return float(binomtest(min(b, c), b + c).pvalue) if b + c else 1.0


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the order given.

    Testing every pair makes some small p-values likely by chance. Holm bounds the chance of
    any false "significant" by alpha without assuming independent tests (they share a test set),
    and rejects at least as much as Bonferroni. Compare an adjusted p-value with alpha directly.
    """
    for p in p_values:
        if not 0 <= p <= 1:
            raise ValueError(f"p-values must be in [0, 1], got {p}")
    m = len(p_values)
    adjusted = [0.0] * m
    running_max = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        # The factor is m for the smallest p, m - 1 for the next, ...; the running maximum
        # keeps the adjusted values in the same order as the raw ones.
        running_max = max(running_max, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running_max
    return adjusted


@dataclass(frozen=True)
class PairTest:
    """The McNemar test of two architectures; `alpha` is the level `significant` was judged at."""

    first: str
    second: str
    first_only: int  # images the first classified correctly and the second did not
    second_only: int
    p_value: float
    p_holm: float
    significant: bool
    alpha: float


def compare_pairs(correct: Mapping[str, np.ndarray], alpha: float = 0.05) -> list[PairTest]:
    """Test every unordered pair of architectures (in the mapping's order), Holm-corrected.

    `correct` maps each architecture to a boolean vector, one entry per test image: whether it
    classified that image correctly. Only the images two architectures disagree on are counted.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha}")
    shape = next(iter(correct.values())).shape if correct else ()
    for name, vector in correct.items():
        if vector.dtype != np.bool_ or vector.ndim != 1 or vector.shape != shape:
            shapes = {key: value.shape for key, value in correct.items()}
            raise ValueError(f"'{name}' is not a boolean vector like the others ({vector.dtype}; {shapes})")
    pairs = list(itertools.combinations(correct, 2))
    counts = [(np.sum(correct[a] & ~correct[b]), np.sum(~correct[a] & correct[b])) for a, b in pairs]
    p_values = [mcnemar_exact(int(b), int(c)) for b, c in counts]
    return [
        PairTest(first, second, int(b), int(c), p, p_holm, p_holm <= alpha, alpha)
        for (first, second), (b, c), p, p_holm in zip(pairs, counts, p_values, holm(p_values), strict=True)
    ]


def _join(words: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _tests_of(best: str, others: Sequence[str], tests: Sequence[PairTest]) -> dict[str, PairTest]:
    """Each other architecture's test against `best`, checked to agree that `best` is ahead."""
    against = {t.first if t.second == best else t.second: t for t in tests if best in (t.first, t.second)}
    for other in others:
        if other not in against:
            raise ValueError(f"no McNemar test between '{best}' and '{other}'")
        test = against[other]
        if (test.first_only - test.second_only) * (1 if test.first == best else -1) <= 0:
            raise ValueError(f"'{best}' has the top accuracy, but not by its test against '{other}'")
    return against


def verdict(
    accuracies: Mapping[str, float], tests: Sequence[PairTest], which: str = ""
) -> tuple[str | None, str]:
    """The best architecture, if its lead over every other is significant, and a headline sentence.

    The top accuracy alone names no winner: `best` is None unless the leader's difference from
    every other architecture is significant in the Holm-corrected McNemar test.
    """
    if not accuracies:
        raise ValueError("no architectures to compare")
    if len(accuracies) == 1:
        return next(iter(accuracies)), "Only one architecture: nothing to compare."
    top = max(accuracies.values())
    leaders = [name for name, accuracy in accuracies.items() if accuracy == top]
    if len(leaders) > 1:
        return None, f"{_join(leaders)} tie for the highest test accuracy ({top:.4f}), so none is best."
    best = leaders[0]
    others = [name for name in accuracies if name != best]
    against = _tests_of(best, others, tests)
    level = f"{against[others[0]].alpha * 100:g}%"
    lead = f"{best} has the highest test accuracy{which} ({top:.4f})"
    unclear = [other for other in others if not against[other].significant]
    if not unclear:
        return (
            best,
            f"{lead}, and its lead over {_join(others)} is significant (McNemar, Holm-corrected, {level}).",
        )
    differences = _join([f"{best}–{other} (p = {against[other].p_holm:.2g})" for other in unclear])
    noun, verb = ("differences", "are") if len(unclear) > 1 else ("difference", "is")
    # If only some differences are unclear, name them: "cannot be ranked" would overstate it.
    partial = f"{best} is not clearly ahead of {_join(unclear)}"
    ranked = "the architectures cannot be ranked" if unclear == others else partial
    return None, (
        f"{lead}, but the {noun} {differences} {verb} not significant at {level} "
        f"(McNemar exact test, Holm-corrected): {ranked} beyond what the sampling of the test "
        "images explains."
    )


def rank_sum_exact(first: Sequence[float], second: Sequence[float]) -> float:
    """Two-sided exact Wilcoxon–Mann–Whitney p-value: do two sets of runs (one per seed) differ?

    Every way of splitting the pooled results into groups of the two sizes is equally likely
    when the seed is all that differs; the p-value is the share of splits whose rank sum lies at
    least as far from its mean as the observed one (mid-ranks for ties). Exact and assumption-
    free, which a t-test on five seeds is not. With 5 seeds each, complete separation gives
    2/252 = 0.0079; with one seed each no result can be significant.
    """
    n, m = len(first), len(second)
    if n < 1 or m < 1:
        raise ValueError(f"each group needs at least one result, got {n} and {m}")
    if math.comb(n + m, n) > 200_000:
        raise ValueError(f"{n} and {m} results are too many to enumerate exactly")
    pooled = np.asarray([*first, *second], dtype=float)
    order = pooled.argsort(kind="stable")
    ranks = np.empty(n + m)
    ranks[order] = np.arange(1, n + m + 1)
    for value in np.unique(pooled):  # ties share their mean rank
        tied = pooled == value
        ranks[tied] = ranks[tied].mean()
    mean = n * (n + m + 1) / 2
    observed = abs(float(ranks[:n].sum()) - mean)
    sums = [abs(float(ranks[list(group)].sum()) - mean) for group in itertools.combinations(range(n + m), n)]
    # A tolerance: mid-ranks are multiples of 0.5, but sums in floating point may differ in the last bit.
    return sum(bool(value >= observed - 1e-9) for value in sums) / len(sums)
