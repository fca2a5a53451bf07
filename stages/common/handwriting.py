"""Any picture of one handwritten digit -> a 28x28 MNIST-style digit (uint8, white on black).

MNIST's digits were made this way (LeCun, Cortes and Burges' description of the data set):
fitted into a 20x20 box that keeps the aspect ratio, anti-aliased, then placed in a 28x28 field
so that their centre of mass is at its centre. `to_mnist` does the same to a grayscale picture:
dark-on-light pictures are inverted first (the border says which is background), the background
level is subtracted and the contrast stretched, specks and paper grain are dropped (`strokes`),
and the fitted digit's brightest pixel is made white, as MNIST's are, so that thin pen strokes
on a large scan do not fade to grey. A 28x28 picture is taken as an MNIST digit already, only
inverted if its background is light.

The report's drawing pad (stages/report/pad.js) runs the same steps in the browser; its test
holds the two to the same pixels. Area-averaging resampling is written here rather than taken
from Pillow so that the page can do exactly the same arithmetic.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import scipy.ndimage

from stages.common.mnist import IMAGE_SIDE

Gray = npt.NDArray[np.float64]  # (height, width), 0 (black) .. 255 (white)

BOX = 20  # MNIST's digits fill a BOX x BOX square before centring
INK = 32  # a pixel at least this bright (after stretching) belongs to the digit's bounding box
MIN_CONTRAST = 40  # between background and the brightest ink, or there is no digit
SPECK = 0.05  # a group of ink pixels with less than this share of the largest group's ink is dust


class NoDigitError(ValueError):
    """A picture that holds nothing to read as a digit."""


def to_mnist(gray: Gray) -> npt.NDArray[np.uint8]:
    """The (28, 28) uint8 MNIST digit that grayscale picture `gray` shows."""
    if background(gray) > 127.5:
        gray = 255 - gray  # dark ink on light paper -> MNIST's white on black
    level, peak = background(gray), float(gray.max())
    if peak - level < MIN_CONTRAST:
        raise NoDigitError(
            f"holds no digit: its brightness varies by {peak - level:.0f} of 255 from the background, "
            f"under {MIN_CONTRAST}"
        )
    if gray.shape == (IMAGE_SIDE, IMAGE_SIDE):
        return to_pixels(gray)
    ink = strokes(np.clip((gray - level) / (peak - level), 0, 1) * 255)
    rows, columns = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
    scale = BOX / max(crop.shape)
    height, width = (max(1, half_up(side * scale)) for side in crop.shape)
    field = np.zeros((IMAGE_SIDE, IMAGE_SIDE))
    top, left = (IMAGE_SIDE - height) // 2, (IMAGE_SIDE - width) // 2
    resized = area_resize(crop, height, width)
    field[top : top + height, left : left + width] = resized * (255 / resized.max())
    return to_pixels(centre_by_mass(field))


def strokes(ink: Gray) -> Gray:
    """`ink` with only its strokes: pixels of at least INK in 8-connected groups that hold at least
    SPECK of the largest group's ink; dust, paper grain and noise in a photo are smaller."""
    labels, count = scipy.ndimage.label(ink >= INK, structure=np.ones((3, 3)))
    mass = np.bincount(labels.ravel(), weights=ink.ravel(), minlength=count + 1)
    mass[0] = 0  # the background
    kept = mass >= SPECK * mass.max()
    kept[0] = False
    return np.where(kept[labels], ink, 0)


def background(gray: Gray) -> float:
    """The picture's background level: the upper median of its border pixels."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return float(np.sort(border)[len(border) // 2])


def half_up(value: float) -> int:
    """Round half up (as JavaScript's Math.round), not to even as Python's round."""
    return math.floor(value + 0.5)


def area_resize(image: Gray, height: int, width: int) -> Gray:
    """Resample to (height, width): each new pixel is the mean of the area of the old it covers."""
    return _area_weights(image.shape[0], height) @ image @ _area_weights(image.shape[1], width).T


def _area_weights(old: int, new: int) -> Gray:
    """(new, old): how much of old pixel j new pixel i covers, as a share of i's width."""
    step = old / new
    starts = np.arange(new)[:, None] * step
    overlap = np.minimum(starts + step, np.arange(1, old + 1)) - np.maximum(starts, np.arange(old))
    return np.clip(overlap, 0, None) / step


def centre_by_mass(field: Gray) -> Gray:
    """`field` moved by whole pixels so that its centre of mass is as near its centre as can be."""
    total = field.sum()
    moved = np.zeros_like(field)
    shifts = []
    for axis in (0, 1):
        mass = field.sum(axis=1 - axis)
        centre = float(mass @ np.arange(len(mass))) / total + 0.5  # pixel i spans [i, i + 1)
        shifts.append(math.floor(len(mass) / 2 - centre + 0.5))
    dy, dx = shifts
    n = IMAGE_SIDE
    moved[max(0, dy) : n + min(0, dy), max(0, dx) : n + min(0, dx)] = field[
        max(0, -dy) : n + min(0, -dy), max(0, -dx) : n + min(0, -dx)
    ]
    return moved


def to_pixels(gray: Gray) -> npt.NDArray[np.uint8]:
    """Rounded half up to whole 0..255 pixels, as MNIST's files hold them."""
    return np.clip(np.floor(gray + 0.5), 0, 255).astype(np.uint8)
