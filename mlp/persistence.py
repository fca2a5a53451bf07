"""Model files: one .npz holding every weight and a small JSON header, never a pickle.

Layout: `header` is the UTF-8 JSON header as a uint8 array; `W0, b0, W1, b1, ...` are the
layers' arrays. The header holds what is needed to rebuild the model without params.yaml
(layer sizes, activation, dtype, ...) plus free-form `metadata` from the caller. Loading
uses allow_pickle=False and checks every array against the header.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from mlp.activations import ACTIVATIONS
from mlp.atomic import atomic_open
from mlp.layers import INITIALIZERS
from mlp.model import DTYPES, MLP

FORMAT = "numpy-mlp"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A model file that is missing, unreadable, corrupt or inconsistent with its header."""


def save_model(model: MLP, path: str | os.PathLike[str], metadata: dict[str, Any] | None = None) -> None:
    """Write `model` to `path` atomically; the same model and metadata give identical bytes.

    Parameters
    ----------
    model : the MLP to save.
    path : the target file, conventionally ending in .npz.
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
    arrays: dict[str, np.ndarray] = {"header": np.frombuffer(header_bytes, dtype=np.uint8)}
    for i, layer in enumerate(model.layers):
        arrays[f"W{i}"], arrays[f"b{i}"] = layer.W, layer.b
    with atomic_open(path, "wb") as handle:
        np.savez(handle, **arrays)


def load_model(path: str | os.PathLike[str]) -> tuple[MLP, dict[str, Any]]:
    """Read a model written by save_model; returns (model, metadata).

    Raises ModelFileError, naming the file, if it is missing, truncated, corrupt, holds an
    object (pickled) array, or its arrays disagree with its header in shape or dtype.
    """
    path = Path(path)
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ModelFileError("is a single .npy array, not a model archive (.npz)")
        with archive:
            header = _read_header(archive)
            n_layers = len(header["layer_sizes"]) - 1
            expected = {f"W{i}" for i in range(n_layers)} | {f"b{i}" for i in range(n_layers)}
            if set(archive.files) != expected | {"header"}:
                raise ModelFileError(f"holds arrays {sorted(archive.files)}, expected {sorted(expected)}")
            weights = [archive[f"W{i}"] for i in range(n_layers)]
            biases = [archive[f"b{i}"] for i in range(n_layers)]
    except ModelFileError as error:
        raise ModelFileError(f"{path}: {error}") from None
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file") from None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zipfile.LargeZipFile) as error:
        # np.load raises ValueError for object arrays when allow_pickle=False, and various
        # errors for truncated or corrupt archives; all mean "this is not a usable model".
        raise ModelFileError(f"{path}: not a readable model file ({type(error).__name__}: {error})") from None
    try:
        _check_arrays(header, weights, biases)
    except ModelFileError as error:
        raise ModelFileError(f"{path}: {error}") from None
    model = MLP.from_weights(weights, biases, header["activation"], header["init"], header["dropout"])
    return model, header["metadata"]


def _read_header(archive: Any) -> dict[str, Any]:
    """Decode and sanity-check the JSON header."""
    if "header" not in archive.files:
        raise ModelFileError("has no header array; it was not written by mlp.save_model")
    raw = archive["header"]
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ModelFileError(f"header array has dtype {raw.dtype} and shape {raw.shape}, expected uint8 bytes")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"header is not valid JSON ({error})") from None
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
        raise ModelFileError(f"header has unknown activation or dtype: {header.get('activation')!r}, {header.get('dtype')!r}")
    if header.get("init") not in INITIALIZERS or not isinstance(header.get("metadata"), dict):
        raise ModelFileError("header has an invalid init or metadata field")
    dropout = header.get("dropout")
    if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ModelFileError(f"header has invalid dropout {dropout!r}")
    return header


def _check_arrays(header: dict[str, Any], weights: list[np.ndarray], biases: list[np.ndarray]) -> None:
    """Check each array's shape and dtype against the header, and that all are finite."""
    sizes, dtype = header["layer_sizes"], np.dtype(header["dtype"])
    for i, (W, b) in enumerate(zip(weights, biases)):
        for name, array, shape in ((f"W{i}", W, (sizes[i], sizes[i + 1])), (f"b{i}", b, (sizes[i + 1],))):
            if array.dtype != dtype or array.shape != shape:
                raise ModelFileError(
                    f"array {name} has shape {array.shape} and dtype {array.dtype}, "
                    f"but the header says {shape} and {dtype}"
                )
            if not np.isfinite(array).all():
                raise ModelFileError(f"array {name} contains NaN or inf weights")
