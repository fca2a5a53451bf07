"""MNIST-style preprocessing of any digit picture: resampling, centring, inversion and contrast."""

import numpy as np
import pytest

from stages.common.handwriting import BOX, NoDigitError, area_resize, centre_by_mass, to_mnist


def test_area_resize_averages_the_area_each_new_pixel_covers():
    image = np.arange(12.0).reshape(3, 4)
    assert np.allclose(area_resize(image, 1, 2), [[np.mean(image[:, :2]), np.mean(image[:, 2:])]])
    assert np.allclose(area_resize(image, 6, 8), image.repeat(2, axis=0).repeat(2, axis=1))
    assert np.isclose(area_resize(np.random.default_rng(0).random((37, 23)), 20, 9).mean(), 0.5, atol=0.05)


def test_centre_by_mass_moves_the_mass_to_the_middle_by_whole_pixels():
    field = np.zeros((28, 28))
    field[2:6, 20:24] = 1  # centre of mass at (4, 22) in pixel-span coordinates
    moved = centre_by_mass(field)
    assert moved.sum() == field.sum()
    assert np.array_equal(np.argwhere(moved)[[0, -1]], [[12, 12], [15, 15]])


def test_a_28_by_28_picture_is_taken_as_an_mnist_digit():
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    digit[10, 10] = 37
    assert np.array_equal(to_mnist(digit.astype(float)), digit)
    assert np.array_equal(to_mnist(255.0 - digit), digit)  # dark on light: inverted


def test_a_larger_picture_is_fitted_into_the_box_and_centred():
    picture = np.full((300, 200), 230.0)  # grey paper
    picture[40:240, 150:170] = 30  # a dark vertical bar, off centre
    digit = to_mnist(picture)
    rows, columns = np.flatnonzero(digit.any(axis=1)), np.flatnonzero(digit.any(axis=0))
    assert len(rows) == BOX and len(columns) <= 3  # 200 rows scaled to 20
    assert abs(rows.mean() - 13.5) <= 1 and abs(columns.mean() - 13.5) <= 1
    assert digit.max() == 255


def test_a_picture_without_contrast_holds_no_digit():
    with pytest.raises(NoDigitError, match="holds no digit"):
        to_mnist(np.full((40, 40), 128.0) + np.random.default_rng(0).random((40, 40)) * 20)
