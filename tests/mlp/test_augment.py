"""Random-shift augmentation: correct shifts, edge filling, determinism."""

import re

import numpy as np
import pytest

from mlp.augment import random_shifts


def test_each_image_moves_by_at_most_max_shift():
    # A single bright pixel lands within max_shift rows and columns of where it was.
    images = np.zeros((200, 28 * 28), dtype=np.float32)
    images[:, 14 * 28 + 14] = 1
    shifted = random_shifts(28, 2)(images, np.random.default_rng(0)).reshape(200, 28, 28)
    positions = np.argwhere(shifted == 1)
    assert len(positions) == 200  # exactly one bright pixel per image survives
    assert np.abs(positions[:, 1:] - 14).max() == 2  # every offset up to the limit occurs
    assert len({tuple(p) for p in positions[:, 1:]}) == 25


def test_border_pixels_repeat_the_edge():
    # Pixels shifted in from outside copy the nearest edge pixel (not zeros, wrap-around or a mirror).
    image = np.arange(16, dtype=np.float64).reshape(4, 4)
    images = np.repeat(image.reshape(1, 16), 200, axis=0)
    shifted = random_shifts(4, 1)(images, np.random.default_rng(1)).reshape(200, 4, 4)
    padded = np.pad(image, 1, mode="edge")
    windows = {padded[top : top + 4, left : left + 4].tobytes() for top in range(3) for left in range(3)}
    assert {result.tobytes() for result in shifted} == windows  # all nine shifts, each edge-filled


def test_same_seed_same_shifts_and_input_untouched():
    # The augmentation is reproducible from the Generator and never modifies its input.
    images = np.random.default_rng(2).random((10, 784)).astype(np.float32)
    original = images.copy()
    augment = random_shifts(28, 3)
    first = augment(images, np.random.default_rng(5))
    assert np.array_equal(first, augment(images, np.random.default_rng(5)))
    assert np.array_equal(images, original) and first.dtype == np.float32


@pytest.mark.parametrize(("side", "max_shift"), [(28, 28), (28, -1), (0, 0)])
def test_impossible_shifts_are_rejected(side, max_shift):
    # A shift as large as the image (or negative) is a clear error.
    with pytest.raises(ValueError, match="max_shift must lie in"):
        random_shifts(side, max_shift)


@pytest.mark.parametrize(
    ("side", "max_shift", "message"),
    [
        ("28", 2, "side must be an integer, got '28' (str)"),
        (28, 2.0, "max_shift must be an integer, got 2.0"),
    ],
)
def test_non_integer_sizes_are_rejected(side, max_shift, message):
    # Sizes of the wrong type are ValueErrors naming the argument, not TypeErrors from a comparison.
    with pytest.raises(ValueError, match=re.escape(message)):
        random_shifts(side, max_shift)


@pytest.mark.parametrize("shape", [(5, 64), (5, 785), (784,)], ids=["digits", "one_too_many", "1d"])
def test_images_of_another_size_are_a_value_error(shape):
    # Shifting rows that are not side*side pixels names the augmenter and the batch's shape, never
    # an AssertionError.
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"random_shifts(28, 2) shifts 28x28 images, rows of 784 pixels, but got a batch of shape {shape}"
        ),
    ):
        random_shifts(28, 2)(np.zeros(shape, np.float32), np.random.default_rng(0))
