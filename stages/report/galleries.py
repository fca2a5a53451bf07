"""The report's image galleries: training samples, test predictions, misclassified images, weights.

Each function takes flat images (n, side * side) and writes one PNG through
stages.report.charts.png_figure (deterministic bytes, atomic write). The grids use fixed margins
rather than a layout engine: with 10 to 32 small axes, automatic layout costs more than the
drawing. Which images to show is the caller's choice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from mlp.arrays import FloatArray, IntArray
from stages.report.charts import png_figure

GRID = (2, 5)  # rows, columns of a gallery: at most 10 images
WEIGHT_GRID = (4, 8)  # at most 32 hidden units


def _square(pixels: FloatArray) -> FloatArray:
    """A flat image (side * side,) as a (side, side) array."""
    side = math.isqrt(pixels.size)
    if side * side != pixels.size:
        raise ValueError(f"cannot show {pixels.size} features as a square image")
    return pixels.reshape(side, side)


def _gallery(
    figure: Figure, images: FloatArray, titles: Sequence[str], colors: Sequence[str], title: str
) -> None:
    """Up to 10 flat images in a 2x5 grid under `title`; unused cells stay blank."""
    assert len(titles) == len(colors) == min(len(images), GRID[0] * GRID[1])
    figure.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.82, wspace=0.1, hspace=0.45)
    for i, axes in enumerate(figure.subplots(*GRID, squeeze=False).flat):
        axes.axis("off")
        if i < len(titles):
            # imshow's default per-image autoscaling renders [0, 1] and standardised pixels alike.
            axes.imshow(_square(images[i]), cmap="gray")
            axes.set_title(titles[i], color=colors[i], fontsize=10)
    figure.suptitle(title, fontsize=13)


def plot_samples(images: FloatArray, labels: IntArray, path: str | Path) -> None:
    """The first 10 training images (n, n_features) with their labels, in a 2x5 grid."""
    titles = [f"Label: {label}" for label in labels[:10]]
    with png_figure(path, (10, 4.8), layout=None) as figure:
        _gallery(figure, images, titles, ["black"] * len(titles), "Training samples (prepared data)")


def plot_predictions(
    images: FloatArray, true: IntArray, predicted: IntArray, arch: str, path: str | Path
) -> None:
    """The first 10 of the given test images titled 'true / predicted', green when right, red when wrong."""
    pairs = list(zip(true[:10], predicted[:10], strict=True))
    titles = [f"true {t} / pred {p}" for t, p in pairs]
    colors = ["green" if t == p else "red" for t, p in pairs]
    with png_figure(path, (10, 4.8), layout=None) as figure:
        _gallery(figure, images, titles, colors, f"{arch}: test predictions (true / predicted)")


def plot_misclassified(
    images: FloatArray,
    true: IntArray,
    predicted: IntArray,
    probability: FloatArray,
    arch: str,
    path: str | Path,
) -> None:
    """Up to 10 misclassified images in the order given, with the probability of the predicted class."""
    titles = [
        f"true {t} / pred {p}\np = {q:.3f}"
        for t, p, q in zip(true[:10], predicted[:10], probability[:10], strict=True)
    ]
    with png_figure(path, (10, 5.2), layout=None) as figure:
        _gallery(
            figure,
            images,
            titles,
            ["red"] * len(titles),
            f"{arch}: most confidently misclassified test images",
        )
        if not titles:
            figure.text(0.5, 0.45, "no misclassified test images", ha="center", va="center", fontsize=14)


def plot_weights(W: FloatArray, arch: str, path: str | Path) -> None:
    """First-layer weights W (n_features, n_hidden) of the first 32 hidden units, as images."""
    units = W[:, : WEIGHT_GRID[0] * WEIGHT_GRID[1]].T  # (n_units, n_features)
    limit = float(np.abs(units).max()) or 1.0  # one symmetric scale, centred on zero, for all units
    with png_figure(path, (12, 6.6), layout=None) as figure:
        figure.subplots_adjust(left=0.01, right=0.9, bottom=0.02, top=0.88, wspace=0.08, hspace=0.3)
        for i, axes in enumerate(figure.subplots(*WEIGHT_GRID, squeeze=False).flat):
            axes.axis("off")
            if i < len(units):
                axes.imshow(_square(units[i]), cmap="RdBu", vmin=-limit, vmax=limit)
                axes.set_title(f"unit {i}", fontsize=9)
        scale = ScalarMappable(norm=Normalize(-limit, limit), cmap="RdBu")
        figure.colorbar(scale, cax=figure.add_axes((0.92, 0.1, 0.015, 0.72)), label="weight (red < 0 < blue)")
        figure.suptitle(f"{arch}: first-layer weights of the first {len(units)} hidden units", fontsize=13)
