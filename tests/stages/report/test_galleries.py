"""The report's image galleries: each writes a deterministic PNG of a known size."""

from __future__ import annotations

import numpy as np
import pytest

from stages.report import galleries
from tests.support.report import assert_reproducible_png

RNG = np.random.default_rng(0)
IMAGES = RNG.random((12, 784), dtype=np.float32)
STANDARDISED = ((IMAGES - IMAGES.mean(axis=0)) / (IMAGES.std(axis=0) + 1e-8)).astype(np.float32)
LABELS = np.arange(12) % 10
WEIGHTS = RNG.normal(scale=0.1, size=(784, 40))
P = np.linspace(0.5, 0.9, 5)  # probabilities of the predicted classes

GALLERY_CASES = [
    pytest.param(lambda p: galleries.plot_samples(IMAGES[:10], LABELS[:10], p), (1000, 480), id="samples"),
    pytest.param(
        lambda p: galleries.plot_samples(STANDARDISED[:3], LABELS[:3], p), (1000, 480), id="samples-std"
    ),
    pytest.param(
        lambda p: galleries.plot_predictions(IMAGES, LABELS, (LABELS + (LABELS > 6)) % 10, "deep", p),
        (1000, 480),
        id="predictions",
    ),
    pytest.param(
        lambda p: galleries.plot_misclassified(IMAGES[:4], LABELS[:4], LABELS[1:5], P[:4], "deep", p),
        (1000, 520),
        id="misclassified",
    ),
    pytest.param(
        lambda p: galleries.plot_misclassified(IMAGES[:0], LABELS[:0], LABELS[:0], P[:0], "deep", p),
        (1000, 520),
        id="misclassified-none",
    ),
    pytest.param(lambda p: galleries.plot_weights(WEIGHTS, "deep", p), (1200, 660), id="weights"),
    pytest.param(
        lambda p: galleries.plot_weights(np.zeros((784, 5)), "deep", p), (1200, 660), id="weights-5-zero"
    ),
]


@pytest.mark.parametrize(("draw", "size"), GALLERY_CASES)
def test_gallery_is_a_reproducible_png_of_its_size(draw, size, tmp_path):
    # Protects: every gallery writes a valid PNG of a fixed pixel size, byte-identical on a redraw.
    assert_reproducible_png(draw, size, tmp_path)


def test_galleries_reject_images_that_are_not_square(tmp_path):
    # Protects: a feature count that is no square image fails loudly instead of drawing garbage.
    with pytest.raises(ValueError, match="square"):
        galleries.plot_samples(np.zeros((2, 780), dtype=np.float32), LABELS[:2], tmp_path / "x.png")
    assert not list(tmp_path.iterdir())
