"""The report's figure functions: each writes a deterministic PNG of a known size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stages.report import __main__ as report
from stages.report import charts as figures
from stages.report import galleries
from tests.support.report import png_size

RNG = np.random.default_rng(0)
IMAGES = RNG.random((12, 784), dtype=np.float32)
STANDARDISED = ((IMAGES - IMAGES.mean(axis=0)) / (IMAGES.std(axis=0) + 1e-8)).astype(np.float32)
LABELS = np.arange(12) % 10
WEIGHTS = RNG.normal(scale=0.1, size=(784, 40))
COUNTS = RNG.integers(0, 20, (10, 10))
COUNTS[3] = 0  # a class absent from the test set must not give NaN when rows are normalised
EPOCH_RANGE = np.arange(1.0, 6.0)
CURVE = np.linspace(0.5, 0.9, 5)


def _curves(path: Path, epochs: np.ndarray = EPOCH_RANGE, values: np.ndarray = CURVE) -> None:
    figures.plot_curves(epochs, 1 - values, 1 - values, 1.1 - values, values, values - 0.05, "shallow", path)


FIGURE_CASES = [
    pytest.param(lambda p: galleries.plot_samples(IMAGES[:10], LABELS[:10], p), (1000, 480), id="samples"),
    pytest.param(
        lambda p: galleries.plot_samples(STANDARDISED[:3], LABELS[:3], p), (1000, 480), id="samples-std"
    ),
    pytest.param(_curves, (1200, 450), id="curves"),
    pytest.param(lambda p: _curves(p, EPOCH_RANGE[:1], CURVE[:1]), (1200, 450), id="curves-one-epoch"),
    pytest.param(
        lambda p: figures.plot_test_accuracy_all(
            {"a": (EPOCH_RANGE, CURVE), "b": (EPOCH_RANGE, CURVE**2)}, p
        ),
        (800, 500),
        id="test-accuracy-all",
    ),
    pytest.param(lambda p: figures.plot_confusion(COUNTS, "deep", p), (700, 600), id="confusion"),
    pytest.param(
        lambda p: figures.plot_confusion_normalized(COUNTS, "deep", p), (700, 600), id="confusion-norm"
    ),
    pytest.param(
        lambda p: galleries.plot_predictions(IMAGES, LABELS, (LABELS + (LABELS > 6)) % 10, "deep", p),
        (1000, 480),
        id="predictions",
    ),
    pytest.param(
        lambda p: galleries.plot_misclassified(IMAGES[:4], LABELS[:4], LABELS[1:5], CURVE[:4], "deep", p),
        (1000, 520),
        id="misclassified",
    ),
    pytest.param(
        lambda p: galleries.plot_misclassified(IMAGES[:0], LABELS[:0], LABELS[:0], CURVE[:0], "deep", p),
        (1000, 520),
        id="misclassified-none",
    ),
    pytest.param(lambda p: galleries.plot_weights(WEIGHTS, "deep", p), (1200, 660), id="weights"),
    pytest.param(
        lambda p: galleries.plot_weights(np.zeros((784, 5)), "deep", p), (1200, 660), id="weights-5-zero"
    ),
    pytest.param(
        lambda p: figures.plot_comparison(
            ["s", "m", "d"],
            [[(0.9595, 0.950, 0.967)], [(0.9610, 0.952, 0.968)], [(0.9630, 0.954, 0.970)]],
            [101770, 109386, 242762],
            [3.5, 12.0, 9.0],
            p,
        ),
        (600, 500),
        id="comparison-3",
    ),
    pytest.param(
        lambda p: figures.plot_comparison(
            list("abcde"), [[(0.5 + 0.01 * s, 0.45, 0.6) for s in range(5)]] * 5, [10] * 5, [1.0] * 5, p
        ),
        (900, 500),
        id="comparison-5-by-5-seeds",
    ),
    pytest.param(
        lambda p: figures.plot_per_class_f1({"a": CURVE.tolist() * 2, "b": (CURVE**2).tolist() * 2}, p),
        (1100, 480),
        id="per-class-f1",
    ),
]


@pytest.mark.parametrize(("draw", "size"), FIGURE_CASES)
def test_figure_is_a_reproducible_png_of_its_size(draw, size, tmp_path):
    # Protects: every figure function writes a valid PNG of a fixed pixel size, byte-identical on a redraw.
    first, second = tmp_path / "first.png", tmp_path / "second.png"
    draw(first)
    draw(second)
    assert png_size(first) == size
    assert first.read_bytes() == second.read_bytes()
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "first.png",
        "second.png",
    ]  # no temporary files


def test_galleries_reject_images_that_are_not_square(tmp_path):
    # Protects: a feature count that is no square image fails loudly instead of drawing garbage.
    with pytest.raises(ValueError, match="square"):
        galleries.plot_samples(np.zeros((2, 780), dtype=np.float32), LABELS[:2], tmp_path / "x.png")
    assert not list(tmp_path.iterdir())


def test_most_confident_errors_sorts_by_probability_then_index():
    # Protects: the misclassified gallery shows the most confident mistakes first, ties in test-set order.
    true = np.array([0, 1, 2, 3, 4, 5])
    predicted = np.array([0, 2, 1, 3, 5, 4])  # samples 1, 2, 4 and 5 are wrong
    confidence = np.array([0.99, 0.6, 0.9, 0.95, 0.6, 0.7])
    assert report.most_confident_errors(true, predicted, confidence, 10).tolist() == [2, 5, 1, 4]
    assert report.most_confident_errors(true, predicted, confidence, 2).tolist() == [2, 5]
    assert report.most_confident_errors(true, true, confidence, 10).tolist() == []
