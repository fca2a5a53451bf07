"""MNIST: its facts (image size, classes, files and their checksums) and a strict reader and
writer of the IDX format it ships in (unsigned bytes only).

The one home of those facts: every other module takes them from here. A damaged or truncated
file must fail with a message naming it, never with a NumPy reshape error or a MemoryError,
so every header field is checked before anything is allocated. Downloading lives in
stages.common.download, choosing a source in stages/fetch.py.
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt

from mlp.reading import UnreadableFileError, read_bytes

IMAGE_SIDE = 28
N_FEATURES = IMAGE_SIDE * IMAGE_SIDE  # one column per pixel once an image is flattened
N_CLASSES = 10
N_TRAIN, N_TEST = 60_000, 10_000
SPLITS = ("t10k", "train")


def images_file(split: str) -> str:
    """The name of a split's image file, e.g. train-images-idx3-ubyte (as MNIST ships it, unzipped)."""
    return f"{split}-images-idx3-ubyte"


def labels_file(split: str) -> str:
    """The name of a split's label file, e.g. t10k-labels-idx1-ubyte."""
    return f"{split}-labels-idx1-ubyte"


# SHA-256 of each file's decompressed content, which every source (mirror, OpenML, by hand) shares.
CHECKSUMS = {
    images_file("train"): "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    labels_file("train"): "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    images_file("t10k"): "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    labels_file("t10k"): "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
MAX_FILE_BYTES = 64 << 20  # the largest file, train images, is 47,040,016 bytes
UBYTE_TYPE_CODE = 0x08  # the only IDX element type MNIST uses
MAX_NDIM = 4


class IdxError(ValueError):
    """An IDX file that is missing, malformed, or not the MNIST split it should be."""


def parse_idx(data: bytes, name: str) -> npt.NDArray[np.uint8]:
    """Return the uint8 array stored in IDX bytes `data`; `name` labels error messages.

    Raises IdxError on a bad magic number, an element type other than unsigned byte,
    ndim outside 1..4, or a body whose length differs from the header's dimensions.
    """
    if len(data) < 4:
        raise IdxError(f"{name}: {len(data)} bytes is too short for an IDX header")
    zero_0, zero_1, type_code, ndim = data[:4]
    if zero_0 or zero_1:
        raise IdxError(f"{name}: bad magic number 0x{bytes(data[:4]).hex()}; IDX starts with two zero bytes")
    if type_code != UBYTE_TYPE_CODE:
        raise IdxError(f"{name}: element type 0x{type_code:02x} is not 0x08 (unsigned byte)")
    if not 1 <= ndim <= MAX_NDIM:
        raise IdxError(f"{name}: {ndim} dimensions; expected 1 to {MAX_NDIM}")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise IdxError(f"{name}: header of {ndim} dimensions is cut short at {len(data)} bytes")
    shape = struct.unpack(f">{ndim}I", data[4:header_size])  # big-endian uint32 each
    # Python ints cannot overflow, so a forged huge header is caught here, before any allocation.
    n_expected = math.prod(shape)
    n_actual = len(data) - header_size
    if n_expected != n_actual:
        raise IdxError(f"{name}: header shape {shape} needs {n_expected} data bytes but {n_actual} follow")
    # Copy so callers get an ordinary writable array rather than a view of immutable bytes.
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape).copy()


def encode_idx(array: npt.NDArray[np.uint8]) -> bytes:
    """Return the IDX bytes of a uint8 array with 1 to 4 dimensions (the inverse of parse_idx)."""
    if array.dtype != np.uint8 or not 1 <= array.ndim <= MAX_NDIM:
        raise ValueError(
            f"IDX needs a uint8 array of 1 to {MAX_NDIM} dimensions, got {array.dtype} {array.shape}"
        )
    header = bytes([0, 0, UBYTE_TYPE_CODE, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array).tobytes()


def load_mnist_split(
    raw_dir: str | os.PathLike[str], split: str
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Read one decompressed MNIST split written by the fetch stage.

    Parameters
    ----------
    raw_dir : folder holding `{split}-images-idx3-ubyte` and `{split}-labels-idx1-ubyte`.
    split : "train" or "t10k".

    Returns
    -------
    images : uint8 array of shape (n_samples, 28, 28).
    labels : uint8 array of shape (n_samples,), values 0..9.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {list(SPLITS)}")
    raw_dir = Path(raw_dir)
    fix = f"delete {raw_dir} and rerun `dvc repro fetch`"
    images_path, labels_path = raw_dir / images_file(split), raw_dir / labels_file(split)
    images, labels = _read_idx(images_path, fix), _read_idx(labels_path, fix)
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise IdxError(
            f"{images_path}: images have shape {images.shape}, "
            f"expected (n, {IMAGE_SIDE}, {IMAGE_SIDE}); {fix}"
        )
    if labels.ndim != 1:
        raise IdxError(f"{labels_path}: labels have shape {labels.shape}, expected (n,); {fix}")
    if len(images) != len(labels):
        raise IdxError(
            f"{images_path} holds {len(images)} images but {labels_path} {len(labels)} labels; {fix}"
        )
    if len(labels) and labels.max() >= N_CLASSES:
        raise IdxError(f"{labels_path}: label {labels.max()} outside 0..{N_CLASSES - 1}; {fix}")
    return images, labels


def _read_idx(path: Path, fix: str) -> npt.NDArray[np.uint8]:
    """Read and parse one IDX file, turning every failure into an IdxError that names the fix."""
    try:
        data = read_bytes(path, MAX_FILE_BYTES)
    except OSError as error:
        raise IdxError(f"cannot read {path}: {error.strerror or error}; {fix}") from None
    except UnreadableFileError as error:
        raise IdxError(f"{path} {error}; {fix}") from None
    try:
        return parse_idx(data, str(path))
    except IdxError as error:
        raise IdxError(f"{error}; {fix}") from None
