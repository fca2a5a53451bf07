"""The report's charts: each writes a deterministic PNG of a known size."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from stages.report import charts
from tests.support.faults import fill_disk
from tests.support.report import assert_reproducible_png

RNG = np.random.default_rng(0)
COUNTS = RNG.integers(0, 20, (10, 10))
COUNTS[3] = 0  # a class absent from the test set must not give NaN when rows are normalised
EPOCH_RANGE = np.arange(1.0, 6.0)
CURVE = np.linspace(0.5, 0.9, 5)


def _curves(path: Path, epochs: np.ndarray = EPOCH_RANGE, values: np.ndarray = CURVE) -> None:
    charts.plot_curves(epochs, 1 - values, 1 - values, 1.1 - values, values, values - 0.05, "shallow", path)


FIGURE_CASES = [
    pytest.param(_curves, (1200, 450), id="curves"),
    pytest.param(lambda p: _curves(p, EPOCH_RANGE[:1], CURVE[:1]), (1200, 450), id="curves-one-epoch"),
    pytest.param(
        lambda p: charts.plot_test_accuracy_all({"a": (EPOCH_RANGE, CURVE), "b": (EPOCH_RANGE, CURVE**2)}, p),
        (800, 500),
        id="test-accuracy-all",
    ),
    pytest.param(lambda p: charts.plot_confusion(COUNTS, "deep", p), (700, 600), id="confusion"),
    pytest.param(
        lambda p: charts.plot_confusion_normalized(COUNTS, "deep", p), (700, 600), id="confusion-norm"
    ),
    pytest.param(
        lambda p: charts.plot_comparison(
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
        lambda p: charts.plot_comparison(
            list("abcde"), [[(0.5 + 0.01 * s, 0.45, 0.6) for s in range(5)]] * 5, [10] * 5, [1.0] * 5, p
        ),
        (900, 500),
        id="comparison-5-by-5-seeds",
    ),
    pytest.param(
        lambda p: charts.plot_per_class_f1({"a": CURVE.tolist() * 2, "b": (CURVE**2).tolist() * 2}, p),
        (1100, 480),
        id="per-class-f1",
    ),
]


@pytest.mark.parametrize(("draw", "size"), FIGURE_CASES)
def test_figure_is_a_reproducible_png_of_its_size(draw, size, tmp_path):
    # Protects: every figure function writes a valid PNG of a fixed pixel size, byte-identical on a redraw.
    assert_reproducible_png(draw, size, tmp_path)


def test_full_disk_while_drawing_a_figure_keeps_the_old_png(tmp_path, monkeypatch):
    # A PNG cut short by a full disk raises an OSError naming it and keeps the previous PNG.
    target = tmp_path / "curves.png"
    target.write_bytes(b"previous good figure")
    fill_disk(monkeypatch, 1, 500)
    with pytest.raises(OSError, match=f"cannot write {re.escape(str(target))}: No space left on device"):
        with charts.png_figure(target, (3, 2)) as figure:
            figure.subplots().plot([0, 1], [1, 0])
    assert [path.name for path in tmp_path.iterdir()] == ["curves.png"]
    assert target.read_bytes() == b"previous good figure"
