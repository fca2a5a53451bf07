"""The report's charts: each writes a deterministic PNG of a known size."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox, Transform

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


ARCHITECTURES = ["shallow", "medium", "deep", "wide", "deeper", "tiny"]
ACCURACIES = [0.9594, 0.9610, 0.9665, 0.9620, 0.9660, 0.9600]  # deep's is the highest, as in the bug


def _comparison(path: Path, n_architectures: int, n_seeds: int) -> None:
    """Architectures with runs like the report's: accuracies 0.959-0.967, 95% intervals about +-0.008."""
    spread = np.linspace(-0.0015, 0.0015, n_seeds) if n_seeds > 1 else np.zeros(1)
    runs = [
        [(a + d, a + d - 0.008, a + d + 0.008) for d in np.roll(spread, i)]
        for i, a in enumerate(ACCURACIES[:n_architectures])
    ]
    n_parameters = [101770, 109386, 242762, 535818, 999999, 50890][:n_architectures]
    charts.plot_comparison(
        ARCHITECTURES[:n_architectures],
        runs,
        n_parameters,
        [3.5, 12.0, 9.0, 120.5, 30.0, 1.0][:n_architectures],
        path,
    )


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
    pytest.param(lambda p: _comparison(p, 6, 10), (1050, 500), id="comparison-6-by-10-seeds"),
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


def _drawn_figure(draw, path: Path, monkeypatch) -> Figure:
    """The figure that `draw(path)` saved (captured from charts.png_figure), after its last draw."""
    drawn = []
    png_figure = charts.png_figure

    @contextlib.contextmanager
    def capturing(*args, **kwargs):
        with png_figure(*args, **kwargs) as figure:
            drawn.append(figure)
            yield figure

    monkeypatch.setattr(charts, "png_figure", capturing)
    draw(path)
    assert path.exists() and len(drawn) == 1
    return drawn[0]


def _shown_labels(figure: Figure) -> list[Text]:
    """Every non-empty text the figure shows: titles, axis labels, tick labels in view, annotations."""
    labels = [*figure.texts]
    for axes in figure.axes:
        labels += [axes.title, axes.xaxis.label, axes.yaxis.label, *axes.texts]
        for axis in (axes.xaxis, axes.yaxis):
            low, high = sorted(axis.get_view_interval())
            labels += [tick.label1 for tick in axis.get_major_ticks() if low <= tick.get_loc() <= high]
    return [label for label in labels if label.get_visible() and label.get_text()]


def _column(x: np.ndarray) -> int:
    """The architecture whose column (x from i - 0.5 to i + 0.5) holds a mark at data x positions `x`."""
    return round(float(np.mean(x)))


def _segments_mark(collection: LineCollection, to_pixels: Transform, dpi: float) -> tuple[int, Bbox]:
    """The column and pixel box of error bars or a mean line (a LineCollection's own window extent
    is empty), widened by half the line width."""
    points = np.concatenate(collection.get_segments())
    corners = to_pixels.transform(points)
    half_width = float(np.max(collection.get_linewidth())) * dpi / 72 / 2
    box = Bbox.from_extents(*corners.min(axis=0), *corners.max(axis=0)).padded(half_width)
    return _column(points[:, 0]), box


@pytest.mark.parametrize(
    ("n_architectures", "n_seeds"),
    [(1, 1), (3, 1), (6, 1), (1, 2), (3, 2), (1, 5), (3, 5), (2, 10), (4, 3), (6, 10)],
)
def test_comparison_labels_stay_in_the_figure_and_clear_of_each_other(
    n_architectures, n_seeds, tmp_path, monkeypatch
):
    # Protects: the comparison's labels (each value or seeds' mean, ticks, titles) are all inside the
    # image, none covers another, and an architecture's value label covers no other architecture's
    # points, error bars or mean line (a mean label was cut off at the right edge, or sat on the
    # neighbour's error bars, with several seeds).
    figure = _drawn_figure(
        lambda p: _comparison(p, n_architectures, n_seeds), tmp_path / "c.png", monkeypatch
    )
    renderer = figure.canvas.get_renderer()
    (axes,) = figure.axes
    labels = _shown_labels(figure)
    boxes = [label.get_window_extent(renderer) for label in labels]
    assert len(axes.texts) == n_architectures  # one value label per architecture
    for label, box in zip(labels, boxes, strict=True):
        assert figure.bbox.contains(box.x0, box.y0) and figure.bbox.contains(box.x1, box.y1), label
    for i, (label, box) in enumerate(zip(labels, boxes, strict=True)):
        for other, other_box in zip(labels[i + 1 :], boxes[i + 1 :], strict=True):
            assert not box.overlaps(other_box), (label, other)

    marks = [(_column(line.get_xdata()), line.get_window_extent(renderer)) for line in axes.lines] + [
        _segments_mark(collection, axes.transData, figure.dpi)
        for collection in axes.collections
        if isinstance(collection, LineCollection)
    ]
    assert {column for column, _ in marks} == set(range(n_architectures))
    for value_label in axes.texts:
        box = value_label.get_window_extent(renderer)
        assert axes.bbox.contains(box.x0, box.y0) and axes.bbox.contains(box.x1, box.y1), value_label
        own = _column(np.array([value_label.xy[0]]))
        overlapped = [column for column, mark in marks if column != own and box.overlaps(mark)]
        assert not overlapped, (value_label, overlapped)


@pytest.mark.parametrize(("lowest", "floor"), [(0.93, 0.9), (0.951, 0.9), (0.975, 0.95), (0.01, 0.0)])
def test_the_per_class_f1_axis_starts_just_below_the_lowest_score(lowest, floor):
    # A 0-1 axis hides differences of a few points: it starts at the 0.05 step below the lowest score.
    assert charts.f1_axis_floor({"a": [0.99, lowest], "b": [1.0, 0.98]}) == pytest.approx(floor)
