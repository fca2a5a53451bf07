"""The report's image galleries: training samples, test predictions, misclassified images, weights.

Each function takes flat images (n, side * side) and writes one PNG through
stages.report.charts.png_figure (deterministic bytes, atomic write). A grid is drawn as one
mosaic image in one axes, its captions as figure text: ten or thirty-two small axes cost more
than everything else the report draws. Which images to show is the caller's choice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from mlp.arrays import FloatArray, IntArray
from stages.report.charts import png_figure

GRID = (2, 5)  # rows, columns of a gallery: at most 10 images
WEIGHT_GRID = (4, 8)  # at most 32 hidden units


def _mosaic(tiles: FloatArray, grid: tuple[int, int], gaps: tuple[int, int]) -> FloatArray:
    """Square images (n, side, side) laid out row by row in a grid, with (row, column) gaps of
    NaN (drawn blank) between them; the rows' gaps leave room for captions above each image."""
    (rows, columns), (row_gap, column_gap), side = grid, gaps, tiles.shape[1]
    mosaic = np.full((rows * (side + row_gap), columns * (side + column_gap) - column_gap), np.nan)
    for i, tile in enumerate(tiles[: rows * columns]):
        top, left = (i // columns) * (side + row_gap) + row_gap, (i % columns) * (side + column_gap)
        mosaic[top : top + side, left : left + side] = tile
    return mosaic


def _draw_mosaic(
    figure: Figure,
    box: tuple[float, float, float, float],
    tiles: FloatArray,
    grid: tuple[int, int],
    row_gap: int,
    captions: Sequence[tuple[str, str]],
    fontsize: float,
    **imshow: Any,
) -> None:
    """The tiles as one image in `box` (left, bottom, width, height of the figure), each
    (text, colour) caption just above its tile; the gap between columns makes pixels square."""
    (rows, columns), side = grid, tiles.shape[1]
    width_inches, height_inches = figure.get_size_inches()
    aspect = (box[2] * width_inches) / (box[3] * height_inches)
    wanted_width = aspect * rows * (side + row_gap)
    column_gap = max(2, round((wanted_width - columns * side) / max(columns - 1, 1)))
    gaps = (row_gap, column_gap)
    mosaic = _mosaic(tiles, grid, gaps)
    axes = figure.add_axes(box)
    axes.axis("off")
    axes.imshow(mosaic, interpolation="nearest", aspect="auto", **imshow)
    left, bottom, width, height = box
    for i, (text, color) in enumerate(captions):
        top = (i // columns) * (side + row_gap) + row_gap  # the tile's first row in the mosaic
        x = left + width * ((i % columns) * (side + column_gap) + side / 2) / mosaic.shape[1]
        y = bottom + height * (1 - top / mosaic.shape[0])
        figure.text(x, y + 0.005, text, ha="center", va="bottom", color=color, fontsize=fontsize)


def _gallery(
    figure: Figure, images: FloatArray, titles: Sequence[str], colors: Sequence[str], title: str
) -> None:
    """Up to 10 flat images in a 2x5 grid under `title`; unused cells stay blank."""
    assert len(titles) == len(colors) == min(len(images), GRID[0] * GRID[1])
    side = _side(images.shape[1])
    squares = images[: len(titles)].reshape(-1, side, side).astype(float)
    # Each image scaled to [0, 1] on its own, as imshow's autoscaling would: [0, 1] pixels and
    # standardised ones look alike.
    low = squares.min(axis=(1, 2), keepdims=True, initial=np.inf)
    span = squares.max(axis=(1, 2), keepdims=True, initial=-np.inf) - low
    scaled = (squares - low) / np.where(span > 0, span, 1)
    captions = list(zip(titles, colors, strict=True))
    box = (0.01, 0.02, 0.98, 0.86)
    _draw_mosaic(figure, box, scaled, GRID, side // 2 + 4, captions, 10, cmap="gray", vmin=0, vmax=1)
    figure.suptitle(title, fontsize=13)


def _side(n_pixels: int) -> int:
    """The side of a square image of `n_pixels` pixels."""
    side = math.isqrt(n_pixels)
    if side * side != n_pixels:
        raise ValueError(f"cannot show {n_pixels} features as a square image")
    return side


def plot_samples(images: FloatArray, labels: IntArray, path: str | Path) -> None:
    """The first 10 training images (n, n_features) with their labels, in a 2x5 grid."""
    titles = [f"Label: {label}" for label in labels[:10]]
    with png_figure(path, (10, 4.8)) as figure:
        _gallery(figure, images, titles, ["black"] * len(titles), "Training samples (prepared data)")


def plot_predictions(
    images: FloatArray, true: IntArray, predicted: IntArray, arch: str, path: str | Path
) -> None:
    """The first 10 of the given test images titled 'true / predicted', green when right, red when wrong."""
    pairs = list(zip(true[:10], predicted[:10], strict=True))
    titles = [f"true {t} / pred {p}" for t, p in pairs]
    colors = ["green" if t == p else "red" for t, p in pairs]
    with png_figure(path, (10, 4.8)) as figure:
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
    with png_figure(path, (10, 5.2)) as figure:
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
    side = _side(units.shape[1])
    squares = units.reshape(-1, side, side).astype(float)
    with png_figure(path, (12, 6.6)) as figure:
        colormap = matplotlib.colormaps["RdBu"].with_extremes(bad="white")
        captions = [(f"unit {i}", "black") for i in range(len(units))]
        box = (0.01, 0.02, 0.88, 0.86)
        _draw_mosaic(
            figure, box, squares, WEIGHT_GRID, 8, captions, 9, cmap=colormap, vmin=-limit, vmax=limit
        )
        scale = ScalarMappable(norm=Normalize(-limit, limit), cmap="RdBu")
        figure.colorbar(scale, cax=figure.add_axes((0.92, 0.1, 0.015, 0.72)), label="weight (red < 0 < blue)")
        figure.suptitle(f"{arch}: first-layer weights of the first {len(units)} hidden units", fontsize=13)
