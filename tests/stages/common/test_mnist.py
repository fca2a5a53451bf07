"""Tests of the strict IDX reader and writer, and of loading one MNIST split."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from stages.common.mnist import IdxError, encode_idx, load_mnist_split, parse_idx


def header(ndim: int, *shape: int, type_code: int = 0x08) -> bytes:
    return bytes([0, 0, type_code, ndim]) + struct.pack(f">{len(shape)}I", *shape)


def write_split(folder, split, images, labels):
    (folder / f"{split}-images-idx3-ubyte").write_bytes(encode_idx(images))
    (folder / f"{split}-labels-idx1-ubyte").write_bytes(encode_idx(labels))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 28, 28), (2, 1, 3, 2), (0, 28, 28)])
def test_encode_then_parse_round_trips(shape, rng):
    # Protects: parse_idx reads back exactly what encode_idx wrote, for every allowed ndim.
    array = rng.integers(0, 256, size=shape, dtype=np.uint8)
    parsed = parse_idx(encode_idx(array), "x")
    assert parsed.dtype == np.uint8 and parsed.shape == shape
    np.testing.assert_array_equal(parsed, array)
    parsed[...] = 0  # the result is an ordinary writable array


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "too short"),
        (b"\x00\x00\x08", "too short"),
        (b"\x01\x00\x08\x01" + b"\x00\x00\x00\x00", "magic"),
        (b"\x00\x07\x08\x01" + b"\x00\x00\x00\x00", "magic"),
        (header(1, 0, type_code=0x09), "element type 0x09"),
        (header(1, 0, type_code=0x0D), "element type 0x0d"),
        (header(1, 0, type_code=0x00), "element type 0x00"),
        (header(0), "0 dimensions"),
        (header(5, 1, 1, 1, 1, 1) + b"\x00", "5 dimensions"),
        (header(3, 2, 28), "cut short"),
        (header(1, 5) + b"\x00" * 4, "needs 5 data bytes but 4 follow"),
        (header(1, 5) + b"\x00" * 6, "needs 5 data bytes but 6 follow"),
        (header(2, 2, 3) + b"\x00" * 5, "needs 6 data bytes but 5 follow"),
    ],
)
def test_malformed_idx_is_refused_naming_the_file(data, message):
    # Protects: every header defect raises IdxError with a message naming the file and the defect.
    with pytest.raises(IdxError, match=message) as caught:
        parse_idx(data, "some-file-idx")
    assert "some-file-idx" in str(caught.value)


@pytest.mark.parametrize("ndim", [1, 2, 3, 4])
def test_huge_header_dimensions_fail_before_allocating(ndim):
    # Protects: a forged header claiming ~2**128 bytes is an IdxError, not a MemoryError.
    data = header(ndim, *[0xFFFFFFFF] * ndim) + b"\x00" * 16
    with pytest.raises(IdxError, match="data bytes"):
        parse_idx(data, "huge")


def test_fuzzed_idx_only_ever_raises_idx_error():
    # Protects: random cuts, flips and insertions in a valid file give an array or an IdxError, nothing else.
    rng = np.random.default_rng(1234)
    valid = encode_idx(rng.integers(0, 256, size=(3, 4, 5), dtype=np.uint8))
    for _ in range(500):
        data = bytearray(valid)
        action = rng.integers(3)
        if action == 0:
            data = data[: rng.integers(len(data))]
        elif action == 1:
            for position in rng.integers(0, len(data), size=rng.integers(1, 4)):
                data[position] ^= 1 << int(rng.integers(8))
        else:
            data[rng.integers(len(data)) : rng.integers(len(data))] = rng.bytes(int(rng.integers(1, 8)))
        try:
            parsed = parse_idx(bytes(data), "fuzz")
        except IdxError:
            continue
        assert parsed.dtype == np.uint8 and parsed.size == len(data) - 4 - 4 * parsed.ndim


def test_load_mnist_split_returns_images_and_labels(tmp_path, rng):
    # Protects: a well-formed split loads as uint8 (n, 28, 28) images and (n,) labels.
    images = rng.integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=7, dtype=np.uint8)
    write_split(tmp_path, "t10k", images, labels)
    loaded_images, loaded_labels = load_mnist_split(tmp_path, "t10k")
    np.testing.assert_array_equal(loaded_images, images)
    np.testing.assert_array_equal(loaded_labels, labels)


@pytest.mark.parametrize(
    "images_shape, labels, message",
    [
        ((4, 28, 28), [0, 1, 2], "4 images but .* 3 labels"),
        ((3, 28, 28), [0, 1, 10], "label 10 outside 0..9"),
        ((3, 28, 27), [0, 1, 2], r"expected \(n, 28, 28\)"),
        ((3, 784), [0, 1, 2], r"expected \(n, 28, 28\)"),
        ((3, 28, 28), [[0, 1, 2]], r"expected \(n,\)"),
    ],
)
def test_inconsistent_split_names_the_file_and_the_fix(tmp_path, images_shape, labels, message):
    # Protects: a split that parses but is not MNIST-shaped fails naming the file and how to fix it.
    write_split(tmp_path, "train", np.zeros(images_shape, np.uint8), np.array(labels, np.uint8))
    with pytest.raises(IdxError, match=message) as caught:
        load_mnist_split(tmp_path, "train")
    assert str(tmp_path) in str(caught.value) and "dvc repro fetch" in str(caught.value)


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_unreadable_split_file_names_the_file_and_the_fix(tmp_path, damage):
    # Protects: a missing or truncated raw file becomes an IdxError naming it and the fix.
    write_split(tmp_path, "train", np.zeros((2, 28, 28), np.uint8), np.zeros(2, np.uint8))
    labels_path = tmp_path / "train-labels-idx1-ubyte"
    if damage == "missing":
        labels_path.unlink()
    else:
        labels_path.write_bytes(labels_path.read_bytes()[:-1])
    with pytest.raises(IdxError, match="train-labels-idx1-ubyte") as caught:
        load_mnist_split(tmp_path, "train")
    assert "dvc repro fetch" in str(caught.value)


def test_unknown_split_lists_the_choices(tmp_path):
    # Protects: a typo in the split name is reported with the valid names.
    with pytest.raises(ValueError, match=r"unknown split 'test'; choose from \['t10k', 'train'\]"):
        load_mnist_split(tmp_path, "test")


@pytest.mark.parametrize("array", [np.zeros(3, np.int16), np.zeros(()), np.zeros((1,) * 5, np.uint8)])
def test_encode_idx_refuses_what_idx_cannot_hold(array):
    # Protects: encode_idx never writes a file that parse_idx would refuse.
    with pytest.raises(ValueError, match="uint8 array of 1 to 4 dimensions"):
        encode_idx(array)
