"""Tests of the significance helpers: Wilson intervals, exact McNemar p-values, Holm adjustment,
pairwise comparison of architectures and the report's verdict sentence, against hand-worked numbers."""

from __future__ import annotations

import itertools
import math
from statistics import NormalDist

import numpy as np
import pytest
from scipy.stats import PermutationMethod, mannwhitneyu

from stages.common.significance import (
    PairTest,
    compare_pairs,
    holm,
    mcnemar_exact,
    rank_sum_exact,
    verdict,
    wilson_interval,
)
from tests.support import PROJECT
from tests.support import yaml12 as yaml

Z95 = NormalDist().inv_cdf(0.975)
WILSON_CASES = [(1920, 2000, 0.95), (1, 10, 0.95), (5, 10, 0.9), (9999, 10000, 0.99), (37, 50, 0.5)]


def _pair(first, second, first_only, second_only, p_holm, alpha=0.05):
    """A PairTest built by hand, with the raw p-value equal to the adjusted one."""
    return PairTest(first, second, first_only, second_only, p_holm, p_holm, p_holm <= alpha, alpha)


@pytest.mark.parametrize(("correct", "n", "confidence"), WILSON_CASES)
def test_wilson_matches_closed_form(correct, n, confidence):
    # Equals the textbook form (x + z²/2 ± z·sqrt(x(n - x)/n + z²/4)) / (n + z²), written independently.
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    spread = z * math.sqrt(correct * (n - correct) / n + z**2 / 4)
    expected = ((correct + z**2 / 2 - spread) / (n + z**2), (correct + z**2 / 2 + spread) / (n + z**2))
    assert wilson_interval(correct, n, confidence) == pytest.approx(expected, abs=1e-12)


def test_wilson_known_value_for_1920_of_2000():
    # The report's typical case stays pinned: z = 1.959963984540054, z² = 3.841458820694124,
    # centre (1920 + z²/2) / (2000 + z²) = 0.959118158250624, half-width
    # z·sqrt(1920·80/2000 + z²/4) / (2000 + z²) = 0.008625094809395 -> [0.950493063441228, 0.967743253060019].
    lower, upper = wilson_interval(1920, 2000)
    assert lower == pytest.approx(0.9504930634412283, abs=1e-12)
    assert upper == pytest.approx(0.9677432530600187, abs=1e-12)


@pytest.mark.parametrize(("correct", "n", "confidence"), WILSON_CASES)
def test_wilson_bounds_solve_the_score_equation(correct, n, confidence):
    # Each bound p is where the score test is on the edge, (p̂ - p)² = z²·p(1 - p)/n, and p̂ lies between them.
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    lower, upper = wilson_interval(correct, n, confidence)
    assert lower < correct / n < upper
    for p in (lower, upper):
        assert (correct / n - p) ** 2 == pytest.approx(z**2 * p * (1 - p) / n, rel=1e-9)


@pytest.mark.parametrize("n", [1, 10, 2000])
def test_wilson_edges_are_exact_and_inside_unit_interval(n):
    # At 0 and n the outer bound is exactly 0 or 1 and the inner one is z²/(n + z²) or n/(n + z²).
    assert wilson_interval(0, n) == (0.0, pytest.approx(Z95**2 / (n + Z95**2), rel=1e-12))
    assert wilson_interval(n, n) == (pytest.approx(n / (n + Z95**2), rel=1e-12), 1.0)


def test_wilson_zero_of_ten_matches_published_table():
    # The widely tabulated 95% Wilson upper bound for 0/10 is 0.2775.
    assert wilson_interval(0, 10)[1] == pytest.approx(0.2775, abs=5e-5)


@pytest.mark.parametrize(
    ("correct", "n", "confidence", "message"),
    [
        (0, 0, 0.95, "n must be"),
        (-1, 10, 0.95, "k must"),
        (11, 10, 0.95, "k .11. must not be greater than n"),
        (5, 10, 1.5, "confidence_level"),
    ],
)
def test_wilson_rejects_bad_arguments(correct, n, confidence, message):
    # Impossible counts and confidences fail loudly (scipy's checks) instead of giving an interval.
    with pytest.raises(ValueError, match=message):
        wilson_interval(correct, n, confidence)


@pytest.mark.parametrize(
    ("b", "c", "expected"),
    [
        (3, 0, 0.25),  # 2 · C(3, 0) / 2³
        (4, 4, 1.0),  # b = c: the tail holds more than half the mass, capped at 1
        (0, 0, 1.0),  # no discordant images, no evidence
        (1, 0, 1.0),  # 2 · 1 / 2¹
        (5, 12, 4701 / 32768),  # 2 · (1 + 17 + 136 + 680 + 2380 + 6188) / 2¹⁷ = 18804 / 131072
    ],
)
def test_mcnemar_hand_worked_values(b, c, expected):
    # The exact p-value (scipy's binomial test) equals the hand-worked binomial tail.
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("b", "c"), [(7, 30), (40, 25), (0, 9), (60, 61)])
def test_mcnemar_matches_direct_binomial_sum(b, c):
    # Equals 2·P(X <= min(b, c)) for X ~ Binomial(b + c, 1/2), summed term by term in floats.
    n = b + c
    expected = min(1.0, 2 * sum(math.comb(n, k) * 0.5**n for k in range(min(b, c) + 1)))
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("b", "c"), [(3, 0), (5, 12), (100, 140), (1000, 1100)])
def test_mcnemar_is_symmetric(b, c):
    # The test is two-sided, so swapping the two classifiers leaves the p-value unchanged.
    assert mcnemar_exact(b, c) == mcnemar_exact(c, b)


def test_mcnemar_large_counts_match_normal_approximation():
    # With 2,100 discordant images the exact tail neither overflows nor underflows, and it agrees
    # with the continuity-corrected normal approximation, 2·(1 - Φ((|b - c| - 1)/sqrt(b + c))) ≈ 0.0307.
    p = mcnemar_exact(1000, 1100)
    assert math.isfinite(p) and 0 < p < 1
    assert p == pytest.approx(2 * (1 - NormalDist().cdf(99 / math.sqrt(2100))), rel=1e-2)


def test_mcnemar_rejects_negative_counts():
    # A negative count is a caller's bug, not a p-value of 1.
    with pytest.raises(ValueError, match="non-negative"):
        mcnemar_exact(-1, 3)


@pytest.mark.parametrize(
    ("p_values", "expected"),
    [
        ([0.01, 0.04, 0.03], [0.03, 0.06, 0.06]),  # sorted: 3·0.01, 2·0.03, max(0.06, 1·0.04)
        ([0.4, 0.9, 0.02], [0.8, 0.9, 0.06]),  # sorted: 3·0.02, 2·0.4, 1·0.9
        ([0.5, 0.6], [1.0, 1.0]),  # 2·0.5 = 1, then max(1, 0.6): capped at 1
        ([0.6, 0.7, 0.8], [1.0, 1.0, 1.0]),  # every product is over 1
        ([0.2], [0.2]),  # one test needs no correction
        ([], []),
    ],
)
def test_holm_hand_worked_examples(p_values, expected):
    # Holm's step-down adjustment, in the input order, matches the arithmetic in the comments.
    assert holm(p_values) == pytest.approx(expected, abs=1e-15)


def test_holm_never_lowers_and_keeps_order():
    # Adjusted p-values are at least the raw ones, at most 1, and ranked the same way.
    raw = np.random.default_rng(0).uniform(0, 0.2, size=12).tolist()
    adjusted = holm(raw)
    assert all(p <= q <= 1 for p, q in zip(raw, adjusted, strict=True))
    by_raw = sorted(range(len(raw)), key=lambda i: raw[i])
    assert [adjusted[i] for i in by_raw] == sorted(adjusted)


@pytest.mark.parametrize("bad", [-0.1, 1.5, math.nan])
def test_holm_rejects_values_that_are_not_probabilities(bad):
    # A p-value outside [0, 1] (or NaN) is an upstream bug that would corrupt every adjustment.
    with pytest.raises(ValueError, match="p-values"):
        holm([0.01, bad])


def test_compare_pairs_counts_discordant_images_by_hand():
    # Every pair in mapping order gets its one-sided counts, exact p and Holm p over all pairs.
    correct = {
        "deep": np.array([1, 1, 1, 1, 1, 1, 0, 1], dtype=bool),
        "medium": np.array([1, 0, 1, 1, 0, 1, 0, 0], dtype=bool),
        "shallow": np.array([0, 1, 1, 0, 0, 1, 1, 0], dtype=bool),
    }
    # deep–medium: deep only at 1, 4, 7 -> (3, 0), p = 2/8; deep–shallow: (4, 1) at 0, 3, 4, 7 and 6,
    # p = 2·(1 + 5)/32 = 0.375; medium–shallow: (2, 2), p = 1. Holm: 3·0.25, max(0.75, 2·0.375), 1.
    assert compare_pairs(correct) == [
        PairTest("deep", "medium", 3, 0, 0.25, 0.75, False, 0.05),
        PairTest("deep", "shallow", 4, 1, 0.375, 0.75, False, 0.05),
        PairTest("medium", "shallow", 2, 2, 1.0, 1.0, False, 0.05),
    ]


@pytest.mark.parametrize(("alpha", "significant"), [(0.05, True), (0.001, False)])
def test_compare_pairs_judges_significance_at_alpha(alpha, significant):
    # Ten images only the first got right give p = 2/2¹⁰ ≈ 0.002: significant at 5%, not at 0.1%.
    first = np.ones(20, dtype=bool)
    second = np.arange(20) >= 10
    (test,) = compare_pairs({"first": first, "second": second}, alpha=alpha)
    assert (test.first_only, test.second_only, test.p_holm) == (10, 0, 2 / 1024)
    assert test.significant is significant and test.alpha == alpha


@pytest.mark.parametrize(
    "medium",
    [np.ones(5, dtype=bool), np.ones(6, dtype=int), np.ones((2, 3), dtype=bool)],
    ids=["length", "dtype", "shape"],
)
def test_compare_pairs_rejects_mismatched_vectors(medium):
    # Vectors from different test sets (or not booleans) cannot be paired; the error names the culprit.
    with pytest.raises(ValueError, match="'medium'"):
        compare_pairs({"deep": np.ones(6, dtype=bool), "medium": medium})


def test_verdict_names_a_best_when_every_lead_is_significant():
    # A leader whose difference from each other architecture survives Holm is named best.
    correct = {name: np.arange(40) >= wrong for name, wrong in [("shallow", 20), ("medium", 15), ("deep", 0)]}
    accuracies = {name: float(vector.mean()) for name, vector in correct.items()}
    assert verdict(accuracies, compare_pairs(correct)) == (
        "deep",
        "deep has the highest test accuracy (1.0000), and its lead over shallow and medium is significant "
        "(McNemar, Holm-corrected, 5%).",
    )


def test_verdict_refuses_to_rank_when_no_lead_is_significant():
    # The highest accuracy alone names no winner; the sentence gives each pair's Holm p-value.
    accuracies = {"deep": 0.963, "medium": 0.959, "shallow": 0.955}
    tests = [_pair("medium", "deep", 10, 18, 0.41), _pair("deep", "shallow", 30, 14, 0.22)]
    assert verdict(accuracies, tests) == (
        None,
        "deep has the highest test accuracy (0.9630), but the differences deep–medium (p = 0.41) and "
        "deep–shallow (p = 0.22) are not significant at 5% (McNemar exact test, Holm-corrected): "
        "the architectures cannot be ranked beyond what the sampling of the test images explains.",
    )


def test_verdict_names_only_the_unclear_difference():
    # When some leads are significant, the sentence names just the rival it cannot separate, at alpha in %.
    accuracies = {"deep": 0.963, "medium": 0.959, "shallow": 0.90}
    tests = [_pair("deep", "medium", 18, 10, 0.0412, 0.01), _pair("deep", "shallow", 140, 14, 1e-20, 0.01)]
    assert verdict(accuracies, tests) == (
        None,
        "deep has the highest test accuracy (0.9630), but the difference deep–medium (p = 0.041) is not "
        "significant at 1% (McNemar exact test, Holm-corrected): deep is not clearly ahead of medium "
        "beyond what the sampling of the test images explains.",
    )


@pytest.mark.parametrize(
    ("accuracies", "expected"),
    [
        ({"deep": 0.963}, ("deep", "Only one architecture: nothing to compare.")),
        (
            {"shallow": 0.95, "medium": 0.963, "deep": 0.963},
            (None, "medium and deep tie for the highest test accuracy (0.9630), so none is best."),
        ),
    ],
    ids=["one", "tie"],
)
def test_verdict_without_a_single_leader(accuracies, expected):
    # One architecture has nothing to beat, and tied leaders leave no best (no tests are consulted).
    assert verdict(accuracies, []) == expected


@pytest.mark.parametrize(
    ("accuracies", "tests", "message"),
    [
        ({}, [], "no architectures"),
        ({"deep": 0.96, "medium": 0.95}, [_pair("medium", "shallow", 3, 1, 0.5)], "no McNemar test"),
        ({"deep": 0.96, "medium": 0.95}, [_pair("deep", "medium", 1, 3, 0.5)], "not by its test"),
    ],
    ids=["empty", "missing-pair", "contradiction"],
)
def test_verdict_rejects_inconsistent_inputs(accuracies, tests, message):
    # Accuracies and pair tests from different runs cannot silently produce a headline.
    with pytest.raises(ValueError, match=message):
        verdict(accuracies, tests)


# ---------------------------------------------------------------- rank-sum test over seeds


def test_rank_sum_complete_separation_of_five_seeds_each():
    # Five results above five others is the most extreme of C(10, 5) = 252 splits, at either end: p = 2/252.
    assert rank_sum_exact([0.96, 0.961, 0.962, 0.963, 0.964], [0.95, 0.951, 0.952, 0.953, 0.954]) == 2 / 252


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ([0.9], [0.8], 1.0),  # one seed each: both orders are equally likely, nothing can be shown
        ([0.9, 0.9], [0.9, 0.9], 1.0),  # all tied
        ([1, 2, 3], [4, 5, 6], 2 / 20),
        ([1, 4], [2, 3], 1.0),  # rank sums 5 and 5: the middle
    ],
)
def test_rank_sum_small_cases_by_hand(first, second, expected):
    # Small cases worked out by listing every split of the pooled results.
    assert rank_sum_exact(first, second) == pytest.approx(expected)


def test_rank_sum_agrees_with_brute_force_over_permutations():
    # The p-value equals the share of all relabellings whose |rank sum - mean| is at least the observed one.
    first, second = [3.0, 1.0, 4.0, 1.5], [5.0, 9.0, 2.0]
    pooled = first + second
    ranks = {value: rank for rank, value in enumerate(sorted(pooled), start=1)}
    mean = len(first) * (len(pooled) + 1) / 2
    observed = abs(sum(ranks[v] for v in first) - mean)
    groups = list(itertools.combinations(pooled, len(first)))
    expected = sum(abs(sum(ranks[v] for v in group) - mean) >= observed for group in groups) / len(groups)
    assert rank_sum_exact(first, second) == pytest.approx(expected)


@pytest.mark.parametrize("seed", range(40))
def test_rank_sum_agrees_with_scipys_permutation_test(seed):
    # scipy as the oracle: Mann-Whitney with an exact permutation distribution (mid-ranks for ties),
    # on 2 to 5 runs per group with many ties, as accuracies on 2,000 images have. Groups are the
    # same size, as in the report (every architecture has every seed): then the null distribution
    # is symmetric and scipy's two-sided p (twice the smaller tail) is ours (as far from the mean).
    rng = np.random.default_rng(seed)
    size = rng.integers(2, 6)
    first, second = (rng.integers(0, 4, size) / 2000 + 0.96 for _ in range(2))
    oracle = mannwhitneyu(first, second, method=PermutationMethod(n_resamples=np.inf)).pvalue
    assert rank_sum_exact(first, second) == pytest.approx(oracle, rel=1e-12)


def test_scipys_exact_rank_sum_method_is_not_used_because_of_ties():
    # Why ours: with ties scipy's method="exact" gives 0.0317 where the exact answer is 0.0397 (5/126).
    first, second = [0.9595, 0.9595, 0.9585, 0.9585, 0.9610], [0.9610, 0.9610, 0.9610, 0.9610, 0.9630]
    assert rank_sum_exact(first, second) == pytest.approx(5 / 126)
    assert mannwhitneyu(first, second, method="exact").pvalue == pytest.approx(4 / 126)


def test_rank_sum_refuses_empty_groups():
    # A comparison needs at least one result on each side.
    with pytest.raises(ValueError, match="at least one result"):
        rank_sum_exact([], [0.5])


def test_the_committed_report_states_the_tests_of_the_committed_predictions():
    # On the real predictions of the committed default run, the discordant counts and McNemar p-values
    # recomputed here from scratch (binomial tail summed in floating point) match the report's table.
    folder = PROJECT / "reports/predictions"
    order = yaml.safe_load((PROJECT / "params.yaml").read_text())["architectures"]  # the report's order
    runs = {arch: folder / f"{arch}-42.csv" for arch in order if (folder / f"{arch}-42.csv").exists()}
    if len(runs) < 2:
        pytest.skip("the committed results hold fewer than two runs")
    correct = {}
    for arch, path in runs.items():
        rows = [line.split(",") for line in path.read_text().splitlines()[1:]]
        correct[arch] = np.array([actual == predicted for actual, predicted, _ in rows])
    readme = (PROJECT / "reports/README.md").read_text()
    for test in compare_pairs(correct):
        b = int(np.sum(correct[test.first] & ~correct[test.second]))
        c = int(np.sum(~correct[test.first] & correct[test.second]))
        n = b + c
        by_float = min(1.0, 2 * sum(math.comb(n, k) * 0.5**n for k in range(min(b, c) + 1)))
        assert (test.first_only, test.second_only) == (b, c)
        assert test.p_value == pytest.approx(by_float, rel=1e-12)
        assert f"| {test.first} vs {test.second} | {b} | {c} | {test.p_value:.3g} |" in readme
