"""Model files: one .npz holding every weight and a small JSON header, never a pickle.

Layout: `header` is the UTF-8 JSON header as a uint8 array; `W0, b0, W1, b1, ...` are the
layers' arrays. The header holds what is needed to rebuild the model without params.yaml
(layer sizes, activation, dtype, ...) plus free-form `metadata` from the caller. Loading
reads the zip members itself (never np.load, never a pickle), checks each array's declared
size against the bytes present before allocating it, and checks every array against the header.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from mlp.activations import ACTIVATIONS
from mlp.atomic import atomic_open
from mlp.layers import INITIALIZERS
from mlp.model import DTYPES, MLP

FORMAT = "numpy-mlp"
FORMAT_VERSION = 1
NPY_MAGIC = b"\x93NUMPY"
HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
PLAIN_DTYPES = (np.dtype(np.uint8), np.dtype(np.float32), np.dtype(np.float64))
MAX_ARRAY_BYTES = 1 << 30  # far above any MLP trained here; bounds what a forged file can make us read
READ_CHUNK = 1 << 20
# What a damaged archive makes zipfile or NumPy's .npy header parser raise: truncation, a bad CRC,
# and bits flipped into "unsupported compression" (NotImplementedError) or "encrypted" (RuntimeError).
READ_ERRORS = (
    OSError,
    ValueError,
    EOFError,
    KeyError,
    struct.error,
    zlib.error,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    NotImplementedError,
    RuntimeError,
)


class ModelFileError(ValueError):
    """A model file that is missing, unreadable, corrupt or inconsistent with its header."""


def save_model(
    model: MLP, target: str | os.PathLike[str] | IO[bytes], metadata: dict[str, Any] | None = None
) -> None:
    """Write `model` to a file; the same model and metadata give identical bytes.

    Parameters
    ----------
    model : the MLP to save.
    target : a path (conventionally ending in .npz), written atomically, or a binary file
        opened for writing (e.g. by a caller that replaces several files together).
    metadata : JSON-serialisable facts to keep with the weights (e.g. architecture name).
    """
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "layer_sizes": model.layer_sizes,
        "activation": model.activation,
        "init": model.init,
        "dropout": model.dropout,
        "dtype": model.dtype.name,
        "metadata": metadata or {},
    }
    header_bytes = json.dumps(header, sort_keys=True).encode("utf-8")
    arrays: dict[str, npt.NDArray[Any]] = {"header": np.frombuffer(header_bytes, dtype=np.uint8)}
    for i, layer in enumerate(model.layers):
        arrays[f"W{i}"], arrays[f"b{i}"] = layer.W, layer.b
    if isinstance(target, (str, os.PathLike)):
        with atomic_open(target, "wb") as handle:
            np.savez(handle, allow_pickle=False, **arrays)  # a model file never holds a pickle
    else:
        np.savez(target, allow_pickle=False, **arrays)


def load_model(path: str | os.PathLike[str]) -> tuple[MLP, dict[str, Any]]:
    """Read a model written by save_model; returns (model, metadata).

    Raises ModelFileError, naming the file, if it is missing, truncated, corrupt, holds an
    object (pickled) array, or its arrays disagree with its header in shape or dtype. No
    pickle is ever loaded, and no array is allocated before its declared size is checked
    against the bytes actually present, so a forged header cannot exhaust memory.
    """
    path = Path(path)
    try:
        header, weights, biases = _read_model_file(path)
        _check_arrays(header, weights, biases)
    except ModelFileError as error:
        raise ModelFileError(f"{path}: {error}") from None
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file") from None
    except READ_ERRORS as error:
        raise ModelFileError(f"{path}: not a readable model file ({type(error).__name__}: {error})") from None
    model = MLP.from_weights(weights, biases, header["activation"], header["init"], header["dropout"])
    return model, header["metadata"]


def _read_model_file(path: Path) -> tuple[dict[str, Any], list[npt.NDArray[Any]], list[npt.NDArray[Any]]]:
    """The checked header and the raw weight and bias arrays of the archive at `path`."""
    with open(path, "rb") as handle:
        if handle.read(len(NPY_MAGIC)) == NPY_MAGIC:
            raise ModelFileError("is a single .npy array, not a model archive (.npz)")
    with zipfile.ZipFile(path) as archive:
        members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
        if "header" not in members:
            raise ModelFileError("has no header array; it was not written by mlp.save_model")
        header = _read_header(_read_array(archive, members["header"]))
        n_layers = len(header["layer_sizes"]) - 1
        expected = {f"W{i}" for i in range(n_layers)} | {f"b{i}" for i in range(n_layers)}
        if set(members) != expected | {"header"}:
            raise ModelFileError(f"holds arrays {sorted(members)}, expected {sorted(expected)}")
        weights = [_read_array(archive, members[f"W{i}"]) for i in range(n_layers)]
        biases = [_read_array(archive, members[f"b{i}"]) for i in range(n_layers)]
    return header, weights, biases


def _read_array(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> npt.NDArray[Any]:
    """One .npy member, refused unless its dtype is plain and its declared size is what it holds."""
    name = info.filename.removesuffix(".npy")
    if info.file_size > MAX_ARRAY_BYTES:
        raise ModelFileError(f"array {name} claims {info.file_size} bytes, over the {MAX_ARRAY_BYTES} limit")
    data = bytearray()
    with archive.open(info) as member:  # small reads: a forged size in the zip never sizes a buffer
        while chunk := member.read(READ_CHUNK):
            data += chunk
    stream = io.BytesIO(data)
    version = np.lib.format.read_magic(stream)
    if version not in HEADER_READERS:
        raise ModelFileError(f"array {name} uses .npy format version {version}, expected 1.0 or 2.0")
    shape, fortran_order, dtype = HEADER_READERS[version](stream)
    if dtype.hasobject:
        raise ModelFileError(f"array {name} holds Python objects (a pickle); refused without unpickling")
    if dtype not in PLAIN_DTYPES:
        raise ModelFileError(f"array {name} has dtype {dtype}; model files hold uint8, float32 or float64")
    n_bytes = math.prod(shape) * dtype.itemsize
    n_present = len(data) - stream.tell()
    if min(shape, default=0) < 0 or n_bytes != n_present:
        raise ModelFileError(f"array {name} declares shape {shape} ({n_bytes} bytes) but holds {n_present}")
    array = np.frombuffer(data, dtype=dtype, offset=stream.tell())  # writable: data is a bytearray
    return array.reshape(shape, order="F" if fortran_order else "C")


def _read_header(raw: npt.NDArray[Any]) -> dict[str, Any]:
    """Decode and sanity-check the JSON header."""
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ModelFileError(f"header array has dtype {raw.dtype} and shape {raw.shape}, expected uint8")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ModelFileError(f"header is not valid JSON ({type(error).__name__}: {error})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError("header does not describe a numpy-mlp model")
    if header.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"format version {header.get('format_version')!r} is not supported (expected {FORMAT_VERSION})"
        )
    sizes = header.get("layer_sizes")
    if (
        not isinstance(sizes, list)
        or len(sizes) < 2
        or not all(isinstance(s, int) and not isinstance(s, bool) and 0 < s < 2**24 for s in sizes)
    ):
        raise ModelFileError(f"header has invalid layer_sizes {sizes!r}")
    if header.get("activation") not in ACTIVATIONS or header.get("dtype") not in DTYPES:
        raise ModelFileError(
            f"header has unknown activation or dtype: {header.get('activation')!r}, {header.get('dtype')!r}"
        )
    if header.get("init") not in INITIALIZERS or not isinstance(header.get("metadata"), dict):
        raise ModelFileError("header has an invalid init or metadata field")
    dropout = header.get("dropout")
    if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ModelFileError(f"header has invalid dropout {dropout!r}")
    return header


def _check_arrays(
    header: dict[str, Any], weights: list[npt.NDArray[Any]], biases: list[npt.NDArray[Any]]
) -> None:
    """Check each array's shape and dtype against the header, and that all are finite."""
    sizes, dtype = header["layer_sizes"], np.dtype(header["dtype"])
    for i, (W, b) in enumerate(zip(weights, biases, strict=True)):
        for name, array, shape in ((f"W{i}", W, (sizes[i], sizes[i + 1])), (f"b{i}", b, (sizes[i + 1],))):
            if array.dtype != dtype or array.shape != shape:
                raise ModelFileError(
                    f"array {name} has shape {array.shape} and dtype {array.dtype}, "
                    f"but the header says {shape} and {dtype}"
                )
            if not np.isfinite(array).all():
                raise ModelFileError(f"array {name} contains NaN or inf weights")
