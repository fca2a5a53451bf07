"""The report's charts: one function per PNG, taking plain arrays and values and a target path.

Each figure is drawn on its own Agg canvas (no pyplot, so no global figure state) in
matplotlib's default style (a user's matplotlibrc cannot change it), at a fixed size and dpi
and without the "Software" metadata, so the same inputs give byte-identical files. Files are
written as stage outputs. Choosing what to show (which counts, which runs) is the caller's
job; the image galleries (samples, predictions, weights) live in stages.report.galleries.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.style
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, MultipleLocator, PercentFormatter

from mlp.arrays import FloatArray, IntArray
from stages.common.output import open_output
from stages.report.markup import format_seconds

DPI = 100  # pixel size = figsize in inches * DPI
# A fixed title height skips matplotlib's per-title overlap search, the slowest part of a gallery.
STYLE: list[str | dict[str, Any]] = ["default", {"axes.titley": 1.0}]


@contextlib.contextmanager
def png_figure(path: str | Path, figsize: tuple[float, float]) -> Iterator[Figure]:
    """A new figure that is saved to `path` as a deterministic PNG when the block ends.

    No layout engine: each figure sets its margins (constrained layout took a third of the
    report's time). PNGs are compressed lightly (zlib level 1): bytes are cheap, time is not.
    """
    with matplotlib.style.context(STYLE):
        figure = Figure(figsize=figsize, dpi=DPI)
        FigureCanvasAgg(figure)
        yield figure
        with open_output(path, "wb") as handle:
            figure.savefig(
                handle, format="png", dpi=DPI, metadata={"Software": None}, pil_kwargs={"compress_level": 1}
            )


def _label(axes: Axes, title: str, xlabel: str, ylabel: str) -> None:
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)


def _per_epoch(axes: Axes) -> None:
    """Whole-number epoch ticks (no epoch 1.25) and a light grid."""
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(alpha=0.3)


def _color(index: int) -> str:
    """The same colour for an architecture in every figure (its position in params order)."""
    return f"C{index % 10}"


def plot_curves(
    epochs: FloatArray,
    loss: FloatArray,
    train_loss: FloatArray,
    test_loss: FloatArray,
    train_accuracy: FloatArray,
    test_accuracy: FloatArray,
    arch: str,
    path: str | Path,
) -> None:
    """Loss per epoch (left) and train and test accuracy per epoch (right)."""
    marker = "o" if len(epochs) <= 20 else None  # a run of one epoch is still visible
    with png_figure(path, (12, 4.5)) as figure:
        figure.subplots_adjust(left=0.06, right=0.99, bottom=0.11, top=0.93, wspace=0.18)
        loss_axes, accuracy_axes = figure.subplots(1, 2)
        loss_axes.plot(epochs, loss, marker=marker, label="training objective (batch mean)")
        # train_*: running figures over each epoch's batches (mlp.fit), not a pass over the set
        loss_axes.plot(
            epochs, train_loss, marker=marker, linestyle="--", label="training batches (data loss)"
        )
        loss_axes.plot(epochs, test_loss, marker=marker, label="test set")
        _label(loss_axes, f"{arch}: loss per epoch", "epoch", "cross-entropy loss")
        accuracy_axes.plot(epochs, train_accuracy, marker=marker, label="training batches")
        accuracy_axes.plot(epochs, test_accuracy, marker=marker, label="test set")
        _label(accuracy_axes, f"{arch}: accuracy per epoch", "epoch", "accuracy")
        for axes in (loss_axes, accuracy_axes):
            _per_epoch(axes)
            axes.legend()


def plot_test_accuracy_all(curves: Mapping[str, tuple[FloatArray, FloatArray]], path: str | Path) -> None:
    """Test accuracy per epoch of every architecture: {name: (epochs, test_accuracy)}."""
    with png_figure(path, (8, 5)) as figure:
        figure.subplots_adjust(left=0.1, right=0.97, bottom=0.1, top=0.93)
        axes = figure.subplots()
        for i, (arch, (epochs, accuracy)) in enumerate(curves.items()):
            axes.plot(
                epochs, accuracy, color=_color(i), marker="o" if len(epochs) <= 20 else None, label=arch
            )
        _label(axes, "Test accuracy per epoch, all architectures", "epoch", "test accuracy")
        _per_epoch(axes)
        axes.legend(title="architecture")


def _confusion(
    figure: Figure, matrix: IntArray | FloatArray, title: str, number_format: str, vmax: float
) -> None:
    # Fixed, square axes (5.04 x 5.04 in on a 7 x 6 in figure): constrained layout clips the bar's labels.
    axes = figure.add_axes((0.1, 0.09, 0.72, 0.84))
    image = axes.imshow(matrix, cmap="Blues", vmin=0, vmax=vmax)
    for (true, predicted), value in np.ndenumerate(matrix):
        if not value:  # empty cells stay blank: easier to read, and each label costs drawing time
            continue
        color = "white" if value > vmax / 2 else "black"  # readable on dark cells
        axes.text(
            predicted, true, format(value, number_format), ha="center", va="center", fontsize=8, color=color
        )
    axes.set_xticks(range(matrix.shape[1]))
    axes.set_yticks(range(matrix.shape[0]))
    _label(axes, title, "predicted label", "true label")
    figure.colorbar(image, cax=figure.add_axes((0.85, 0.09, 0.03, 0.84)))


def plot_confusion(counts: IntArray, arch: str, path: str | Path) -> None:
    """Confusion matrix (n_classes, n_classes) of counts, rows true and columns predicted."""
    with png_figure(path, (7, 6)) as figure:
        _confusion(
            figure, counts, f"{arch}: confusion matrix (test set, counts)", "d", max(int(counts.max()), 1)
        )


def plot_confusion_normalized(counts: IntArray, arch: str, path: str | Path) -> None:
    """The confusion matrix with each row divided by its total: the recall of each true class."""
    totals = counts.sum(axis=1, keepdims=True)
    rates = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)  # a class absent stays 0
    with png_figure(path, (7, 6)) as figure:
        _confusion(figure, rates, f"{arch}: confusion matrix (test set, row-normalised)", ".2f", 1.0)


# The comparison's layout, in inches: the margins that left=0.15 and right=0.97 give at its
# smallest width (6 in), kept fixed so every architecture's column gains the extra width.
COMPARISON_LEFT, COMPARISON_RIGHT = 0.9, 0.18
COMPARISON_HEIGHT, COMPARISON_BOTTOM, COMPARISON_TOP = 5, 0.23, 0.88  # top, bottom: fractions
MEAN_LABEL_OFFSET = 4  # points between an architecture's highest interval and its mean label


def plot_comparison(
    names: Sequence[str],
    runs: Sequence[Sequence[tuple[float, float, float]]],
    n_parameters: Sequence[int],
    seconds: Sequence[float],
    path: str | Path,
) -> None:
    """Test accuracy of each architecture's runs (one per seed) with their 95% intervals.

    `runs[i]` holds (accuracy, interval low, interval high) per seed of architecture i. Points
    with error bars rather than bars: a bar must start at zero, which would hide differences of
    a few tenths of a point; here the axis spans the intervals and has a gridline every 0.2
    points, so such differences, and whether the intervals overlap, are visible.

    Each architecture owns a column one unit wide, and all its marks and its label stay in it:
    a single run's value is written beside its point; with several seeds the points spread
    over the column's middle, and the mean's label is centred above the highest interval (the
    axis leaves room for it), where it can neither leave the figure nor cover a neighbour.
    """
    width = 6 + 1.5 * max(0, len(names) - 3)  # room for each architecture's three-line tick label
    with png_figure(path, (width, COMPARISON_HEIGHT)) as figure:
        figure.subplots_adjust(
            left=COMPARISON_LEFT / width,
            right=1 - COMPARISON_RIGHT / width,
            bottom=COMPARISON_BOTTOM,
            top=COMPARISON_TOP,
        )
        axes = figure.subplots()
        mean_labels = []
        for i, seeds in enumerate(runs):
            offsets = np.linspace(-0.2, 0.2, len(seeds)) if len(seeds) > 1 else np.zeros(1)
            accuracy, low, high = (np.array(values) for values in zip(*seeds, strict=True))
            axes.errorbar(
                i + offsets,
                accuracy,
                yerr=[accuracy - low, high - accuracy],
                fmt="o",
                color=_color(i),
                capsize=3,
            )
            if len(seeds) == 1:
                axes.annotate(
                    f"{accuracy[0]:.4f}",
                    (i, accuracy[0]),
                    xytext=(12, 0),
                    textcoords="offset points",
                    va="center",
                )
            else:  # one label for the mean: five labels would overlap
                mean = float(accuracy.mean())
                axes.hlines(mean, i - 0.3, i + 0.3, color="black", linewidth=1.5)
                mean_label = axes.annotate(
                    f"mean {mean:.4f}",
                    (i, float(high.max())),
                    xytext=(0, MEAN_LABEL_OFFSET),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                )
                mean_labels.append(mean_label)
        lows = [low for seeds in runs for _, low, _ in seeds]
        highs = [high for seeds in runs for _, _, high in seeds]
        margin = 0.1 * (max(highs) - min(lows)) or 0.001
        top = margin
        if mean_labels:  # room above the intervals for the mean labels (1.5 lines: a little slack)
            height = 1.5 * max(label.get_fontproperties().get_size_in_points() for label in mean_labels)
            top = max(margin, _headroom(max(highs) - min(lows) + margin, height))
        axes.set_ylim(min(lows) - margin, max(highs) + top)
        if max(highs) - min(lows) < 0.05:  # a gridline every 0.2 points where that is readable
            axes.yaxis.set_major_locator(MultipleLocator(0.002))
        axes.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=1))
        ticks = [
            f"{name}\n{count:,} parameters\ntime {format_seconds(s)}"
            for name, count, s in zip(names, n_parameters, seconds, strict=True)
        ]
        axes.set_xticks(range(len(names)), labels=ticks)
        axes.set_xlim(-0.5, len(names) - 0.5)
        seed_note = "one point per seed, black line: mean; " if mean_labels else ""
        _label(
            axes,
            f"Test accuracy per architecture\n({seed_note}95% Wilson intervals)",
            "architecture (parameters, training time)",
            "test accuracy",
        )
        axes.grid(axis="y", alpha=0.3)


def _headroom(below: float, label_height: float) -> float:
    """The data range to leave above the highest interval so that a label `label_height` points
    tall, MEAN_LABEL_OFFSET points above it, stays inside the comparison's axes, given the
    `below` data range the axis spans under that interval."""
    axes_height = COMPARISON_HEIGHT * 72 * (COMPARISON_TOP - COMPARISON_BOTTOM)  # points
    share = (MEAN_LABEL_OFFSET + label_height) / axes_height  # of the axis range, at its top
    return share * below / (1 - share)


def f1_axis_floor(f1: Mapping[str, Sequence[float]]) -> float:
    """Where the per-class F1 axis starts: the multiple of 0.05 at least 0.02 below the lowest
    score (on a 0-1 axis, scores of 0.93 to 0.99 all look the same height)."""
    lowest = min(min(scores) for scores in f1.values())
    return max(0.0, math.floor((lowest - 0.02) * 20) / 20)


def plot_per_class_f1(f1: Mapping[str, Sequence[float]], path: str | Path) -> None:
    """Per-class test F1 as grouped bars: classes on x, one bar per architecture {name: (n_classes,)}."""
    classes = np.arange(len(next(iter(f1.values()))))
    bar_width = 0.8 / len(f1)
    with png_figure(path, (11, 4.8)) as figure:
        figure.subplots_adjust(left=0.07, right=0.86, bottom=0.11, top=0.92)
        axes = figure.subplots()
        for i, (arch, scores) in enumerate(f1.items()):
            axes.bar(classes - 0.4 + bar_width * (i + 0.5), scores, bar_width, color=_color(i), label=arch)
        axes.set_xticks(classes)
        axes.set_ylim(f1_axis_floor(f1), 1.0)
        _label(
            axes,
            "Per-class F1 on the test set, all architectures (axis from below the lowest score)",
            "class",
            "F1 score",
        )
        axes.grid(axis="y", alpha=0.3)
        axes.legend(title="architecture", loc="upper left", bbox_to_anchor=(1.01, 1))
