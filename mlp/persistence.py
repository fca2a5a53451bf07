"""Model files: one .npz holding every weight and a small JSON header, never a pickle.

Layout: `header` is the UTF-8 JSON header as a uint8 array; `W0, b0, W1, b1, ...` are the
layers' arrays. The header holds what is needed to rebuild the model without params.yaml
(layer sizes, activation, dtype, ...), its input contract (contract.py: input shape and class
labels in the header, the scaling's `input_mean` and `input_std` as arrays), and free-form
`metadata` from the caller. Version 1 files, from before the contract, still load, without one. Loading
goes through archive.NpzReader (never np.load, never a pickle), which never lets the file
size its memory: at most MAX_MODEL_BYTES are inflated, each array within the shape and dtype
the header gives. Every header field's type is checked, and every array against the header.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from mlp.activations import ACTIVATIONS
from mlp.archive import NPY_HEADER_BYTES, ArchiveError, NpzReader
from mlp.arrays import FloatArray
from mlp.atomic import atomic_open
from mlp.contract import InputContract
from mlp.layers import INITIALIZERS
from mlp.memory import GIB
from mlp.model import MLP
from mlp.reading import UnreadableFileError, parse_json
from mlp.validation import DTYPES

FORMAT = "numpy-mlp"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, FORMAT_VERSION)  # version 1: no input contract
CONTRACT_ARRAYS = ("input_mean", "input_std")
# Limits far above any MLP trained here (the widest, 784-1024-1024-10, takes 7 MB), which
# bound what a forged file can make us read: loading a model needs about three times its size.
MAX_MODEL_BYTES = 1 * GIB  # uncompressed, all members together
MAX_HEADER_BYTES = 1 << 20
MAX_LAYERS = 256
MAX_MEMBERS = 2 * MAX_LAYERS + 1 + len(CONTRACT_ARRAYS)


class ModelFileError(ArchiveError):
    """A model file that is missing, unreadable, corrupt or inconsistent with its header."""


def save_model(
    model: MLP,
    target: str | os.PathLike[str] | IO[bytes],
    metadata: dict[str, Any] | None = None,
    contract: InputContract | None = None,
) -> None:
    """Write `model` to a file; the same model and metadata give identical bytes.

    Parameters
    ----------
    model : the MLP to save.
    target : a path (conventionally ending in .npz), written atomically, or a binary file
        opened for writing (e.g. by a caller that replaces several files together).
    metadata : JSON-serialisable facts to keep with the weights (e.g. architecture name).
    contract : how raw inputs become the model's features (needed to use it: load_classifier).

    Raises ValueError, before writing anything, for a model that load_model would refuse
    as too large (over MAX_MODEL_BYTES, MAX_LAYERS layers, or a header over MAX_HEADER_BYTES).
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
        "input": None,
    }
    arrays: dict[str, npt.NDArray[Any]] = {}
    if contract is not None:
        if contract.n_features != model.n_features or len(contract.labels) != model.n_classes:
            raise ValueError(
                f"the input contract describes {contract.n_features} features and {len(contract.labels)} "
                f"classes, the model has {model.n_features} and {model.n_classes}"
            )
        header["input"] = {
            "shape": list(contract.shape),
            "labels": list(contract.labels),
            "scaling": contract.scaling,
        }
        arrays |= dict(zip(CONTRACT_ARRAYS, (contract.mean, contract.std), strict=True))
    header_bytes = json.dumps(header, sort_keys=True).encode("utf-8")
    _check_loadable(model, header_bytes)
    arrays["header"] = np.frombuffer(header_bytes, dtype=np.uint8)
    for i, layer in enumerate(model.layers):
        arrays[f"W{i}"], arrays[f"b{i}"] = layer.W, layer.b
    if isinstance(target, (str, os.PathLike)):
        with atomic_open(target, "wb") as handle:
            np.savez(handle, allow_pickle=False, **arrays)  # a model file never holds a pickle
    else:
        np.savez(target, allow_pickle=False, **arrays)


def load_model(path: str | os.PathLike[str]) -> tuple[MLP, dict[str, Any]]:
    """Read a model written by save_model; returns (model, metadata).

    Raises ModelFileError, naming the file, if it is missing, not a regular file (a FIFO,
    /dev/zero), truncated, corrupt, holds an object (pickled) array, its arrays disagree with
    its header in shape or dtype, or it declares more than MAX_MODEL_BYTES. No pickle is ever
    loaded, and nothing is allocated from a size the file declares before that size is
    checked, so a forged file cannot exhaust memory.
    """
    classifier = _load(Path(path))
    return classifier.model, classifier.metadata


@dataclass(frozen=True)
class Classifier:
    """A model with its input contract: everything needed to classify raw inputs."""

    model: MLP
    contract: InputContract
    metadata: dict[str, Any]

    def predict_proba(self, pixels: npt.ArrayLike) -> FloatArray:
        """(n, n_classes) probabilities for raw inputs (n, *shape) in 0..255, scaled as in training."""
        return self.model.predict_proba(self.contract.features(pixels))


def load_classifier(path: str | os.PathLike[str]) -> Classifier:
    """Read a model file that carries its input contract (load_model's checks, and that one)."""
    path = Path(path)
    loaded = _load(path)
    if loaded.contract is None:
        raise ModelFileError(
            f"{path}: has no input contract (how raw pixels were scaled for it): it was saved before "
            "model files carried one, or without one; retrain it (`dvc repro` in the pipeline) to use it"
        )
    return Classifier(loaded.model, loaded.contract, loaded.metadata)


@dataclass(frozen=True)
class _Loaded:
    model: MLP
    contract: InputContract | None
    metadata: dict[str, Any]


def _load(path: Path) -> _Loaded:
    try:
        header, weights, biases, contract_arrays = _read_model_file(path)
        _check_arrays(header, weights, biases)
        contract = _contract(header, contract_arrays)
    except ArchiveError as error:  # ModelFileError included
        raise ModelFileError(f"{path}: {error}") from None
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file") from None
    model = MLP.from_weights(weights, biases, header["activation"], header["init"], header["dropout"])
    return _Loaded(model, contract, header["metadata"])


def _contract(header: dict[str, Any], arrays: list[npt.NDArray[Any]]) -> InputContract | None:
    """The input contract the header and the input_mean and input_std arrays describe, if any."""
    described = header.get("input")
    if described is None:
        return None
    shape, labels, scaling = (described.get(key) for key in ("shape", "labels", "scaling"))
    if not (
        isinstance(shape, list)
        and 1 <= len(shape) <= 4
        and all(_is_int(size) and size > 0 for size in shape)
        and math.prod(shape) == header["layer_sizes"][0]
        and isinstance(labels, list)
        and len(labels) == header["layer_sizes"][-1]
        and isinstance(scaling, str)
        and len(scaling) <= 64
    ):
        raise ModelFileError(
            f"header has an invalid input contract {_shorten(described)}; expected a shape of "
            f"{header['layer_sizes'][0]} values, {header['layer_sizes'][-1]} labels and a scaling name"
        )
    try:
        return InputContract(tuple(shape), tuple(labels), scaling, *arrays)
    except ValueError as error:
        raise ModelFileError(str(error)) from None


def _check_loadable(model: MLP, header_bytes: bytes) -> None:
    """Raise ValueError if load_model would refuse the file save_model is about to write."""
    n_arrays = 2 * len(model.layers)
    n_bytes = len(header_bytes) + model.parameters().nbytes + NPY_HEADER_BYTES * (n_arrays + 1)
    if len(model.layers) > MAX_LAYERS or n_bytes > MAX_MODEL_BYTES or len(header_bytes) > MAX_HEADER_BYTES:
        raise ValueError(
            f"cannot save a model of {len(model.layers)} layers, {n_bytes} bytes and a "
            f"{len(header_bytes)}-byte header: load_model accepts at most {MAX_LAYERS} layers, "
            f"{MAX_MODEL_BYTES} bytes and a {MAX_HEADER_BYTES}-byte header; "
            "use a smaller network or less metadata"
        )


def _read_model_file(
    path: Path,
) -> tuple[dict[str, Any], list[npt.NDArray[Any]], list[npt.NDArray[Any]], list[npt.NDArray[Any]]]:
    """The checked header and the weight, bias and input contract arrays of the archive at `path`."""
    with NpzReader(path, "a model file", MAX_MODEL_BYTES, MAX_MEMBERS) as npz:
        if "header" not in npz.names:
            raise ModelFileError("has no header array; it was not written by mlp.save_model")
        header = _read_header(npz.read("header", [np.uint8], [MAX_HEADER_BYTES]))
        sizes, dtype = header["layer_sizes"], header["dtype"]
        expected = {"header"} | {f"{kind}{i}" for i in range(len(sizes) - 1) for kind in "Wb"}
        contract_arrays = CONTRACT_ARRAYS if header["input"] is not None else ()
        expected |= set(contract_arrays)
        if npz.names != expected:
            raise ModelFileError(
                f"holds arrays {_shorten(sorted(npz.names))}, expected {_shorten(sorted(expected))}"
            )
        weights = [npz.read(f"W{i}", [dtype], [a, b]) for i, (a, b) in enumerate(itertools.pairwise(sizes))]
        biases = [npz.read(f"b{i}", [dtype], [b]) for i, b in enumerate(sizes[1:])]
        contract = [npz.read(name, [np.float32], [sizes[0]]) for name in contract_arrays]
    return header, weights, biases, contract


def _read_header(raw: npt.NDArray[Any]) -> dict[str, Any]:
    """Decode the JSON header and check every field's type and value."""
    try:
        header = parse_json(raw.tobytes())
    except UnreadableFileError as error:
        raise ModelFileError(f"header {error}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError("header does not describe a numpy-mlp model")
    version = header.get("format_version")
    if not _is_int(version) or version not in READABLE_VERSIONS:
        raise ModelFileError(
            f"format version {version!r} is not supported (expected one of {list(READABLE_VERSIONS)})"
        )
    if version == 1:
        header["input"] = None
    elif not (header.get("input") is None or isinstance(header["input"], dict)):
        raise ModelFileError(
            f"header has invalid input {_shorten(header['input'])}; expected an object or null"
        )
    sizes = header.get("layer_sizes")
    if (
        not isinstance(sizes, list)
        or not 2 <= len(sizes) <= MAX_LAYERS + 1
        or not all(_is_int(size) and 0 < size < 2**24 for size in sizes)
    ):
        raise ModelFileError(
            f"header has invalid layer_sizes {_shorten(sizes)}; expected 2 to {MAX_LAYERS + 1} "
            "positive integers below 2**24"
        )
    for field, choices in (("activation", ACTIVATIONS), ("init", INITIALIZERS), ("dtype", DTYPES)):
        value = header.get(field)
        if not isinstance(value, str) or value not in choices:
            raise ModelFileError(
                f"header has unknown {field} {_shorten(value)} ({type(value).__name__}); "
                f"expected one of {sorted(choices)}"
            )
    dropout = header.get("dropout")
    if not (isinstance(dropout, (int, float)) and not isinstance(dropout, bool) and 0 <= dropout < 1):
        raise ModelFileError(f"header has invalid dropout {_shorten(dropout)}; expected a number in [0, 1)")
    if not isinstance(header.get("metadata"), dict):
        raise ModelFileError(
            f"header has invalid metadata {_shorten(header.get('metadata'))}; expected an object"
        )
    n_values = sum(a * b + b for a, b in itertools.pairwise(sizes))
    if n_values * np.dtype(header["dtype"]).itemsize > MAX_MODEL_BYTES:
        raise ModelFileError(
            f"header declares layer sizes {sizes}, {n_values} {header['dtype']} values, "
            f"over the {MAX_MODEL_BYTES} bytes a model file may hold"
        )
    return header


def _is_int(value: object) -> bool:
    """A JSON integer (Python's bool is an int, but not a JSON integer)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _shorten(value: object, limit: int = 80) -> str:
    """repr(value), cut to `limit` characters: a forged header field may be huge."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


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
