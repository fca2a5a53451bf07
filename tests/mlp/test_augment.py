"""Augmentation: random shifts (correct shifts, edge filling) and elastic distortions (identity at
zero strength, rotation within its limit, blank and constant images kept); both deterministic."""

import re

import numpy as np
import pytest

from mlp.augment import elastic_distortions, random_shifts


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


def test_elastic_distortions_at_zero_strength_change_nothing():
    # alpha 0 and no rotation sample every pixel where it is (up to rounding at the last row and column).
    images = np.random.default_rng(3).random((20, 784)).astype(np.float32)
    same = elastic_distortions(28, alpha=0.0, sigma=4.0)(images, np.random.default_rng(0))
    np.testing.assert_allclose(same, images, rtol=0, atol=1e-6)


def test_elastic_distortions_keep_blank_and_constant_images_and_the_value_range():
    # Bilinear interpolation mixes neighbours and the border repeats the edge: a blank or constant
    # image stays exactly as it was, and no pixel leaves the range of the image's own values.
    augment = elastic_distortions(28, alpha=34.0, sigma=4.0, max_degrees=15.0)
    for value in (0.0, 0.3, -1.25):  # standardised pixels can be negative
        constant = np.full((10, 784), value, dtype=np.float32)
        assert np.array_equal(augment(constant, np.random.default_rng(0)), constant)
    images = np.random.default_rng(4).random((10, 784)).astype(np.float32)
    bent = augment(images, np.random.default_rng(1))
    assert not np.allclose(bent, images)
    assert bent.min() >= images.min() - 1e-6 and bent.max() <= images.max() + 1e-6


def test_elastic_rotation_stays_within_max_degrees():
    # One bright pixel 10 to the right of a 29x29 image's centre lands at an angle of at most
    # max_degrees about the centre, and the angles drawn reach close to the limit.
    images = np.zeros((300, 29 * 29))
    images[:, 14 * 29 + 24] = 1
    turned = elastic_distortions(29, alpha=0.0, sigma=4.0, max_degrees=20.0)(images, np.random.default_rng(2))
    rows, cols = np.indices((29, 29)).reshape(2, -1) - 14
    mass = turned.sum(axis=1)
    angles = np.degrees(np.arctan2(turned @ rows / mass, turned @ cols / mass))
    assert np.abs(angles).max() <= 20.5 and np.abs(angles).max() > 18


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elastic_distortions_are_reproducible_and_keep_shape_and_dtype(dtype):
    # The same Generator state gives the same images; the input is never modified.
    images = np.random.default_rng(2).random((10, 784)).astype(dtype)
    original = images.copy()
    augment = elastic_distortions(28, alpha=34.0, sigma=4.0, max_degrees=10.0)
    first = augment(images, np.random.default_rng(5))
    assert first.shape == images.shape and first.dtype == dtype
    assert np.array_equal(first, augment(images, np.random.default_rng(5)))
    assert not np.array_equal(first, augment(images, np.random.default_rng(6)))
    assert np.array_equal(images, original)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((1, 34.0, 4.0), "side must be at least 2"),
        ((28, -1.0, 4.0), "alpha must be a finite number >= 0, got -1.0"),
        ((28, 34.0, 0.0), "sigma must be a positive finite number, got 0.0"),
        ((28, 34.0, 4.0, float("nan")), "max_degrees must be a finite number >= 0, got nan"),
        ((28, "34", 4.0), "alpha must be a number, got '34' (str)"),
    ],
)
def test_impossible_distortions_are_rejected(arguments, message):
    # Each argument is checked when the augmenter is built, with a message naming it.
    with pytest.raises(ValueError, match=re.escape(message)):
        elastic_distortions(*arguments)


def test_elastic_distortions_of_images_of_another_size_are_a_value_error():
    # Rows that are not side*side pixels name the augmenter and the batch's shape.
    with pytest.raises(ValueError, match=re.escape("rows of 784 pixels, but got a batch of shape (5, 64)")):
        elastic_distortions(28, 34.0, 4.0)(np.zeros((5, 64), np.float32), np.random.default_rng(0))
