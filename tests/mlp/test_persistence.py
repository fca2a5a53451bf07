"""Tests of save_model and load_model: round trips, reproducible bytes and rejection of bad files."""

import dataclasses
import json
import math
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import mlp
from mlp.archive import READ_CHUNK
from tests.support import PROJECT, forged_zips
from tests.support.fuzz import mutate
from tests.support.pickles import UNPICKLED, Sentinel


def _model(dtype="float32", activation="tanh", seed=0):
    """A small trained-looking model: random weights and non-zero biases."""
    rng = np.random.default_rng(seed)
    model = mlp.MLP([6, 5, 4, 3], rng, activation=activation, init="glorot", dtype=dtype, dropout=0.25)
    for b in [layer.b for layer in model.layers]:
        b[:] = rng.normal(size=b.shape)
    return model


def _saved_arrays(tmp_path) -> dict:
    """The arrays of a genuine model file, to be tampered with."""
    path = tmp_path / "genuine.npz"
    mlp.save_model(_model(), path)
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    path.unlink()
    return arrays


def _header(arrays: dict) -> dict:
    return json.loads(arrays["header"].tobytes().decode("utf-8"))


def _encode(header: dict) -> np.ndarray:
    return np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", sorted(mlp.ACTIVATIONS))
def test_round_trip_preserves_model_and_predictions(tmp_path, dtype, activation):
    # load(save(model)) rebuilds the same architecture, weights, dtype and predictions, plus metadata.
    model = _model(dtype, activation)
    path = tmp_path / "model.npz"
    metadata = {"architecture": "shallow", "test_accuracy": 0.97, "hidden_sizes": [5, 4]}
    mlp.save_model(model, path, metadata=metadata)
    loaded, loaded_metadata = mlp.load_model(path)
    assert loaded_metadata == metadata
    assert loaded.layer_sizes == model.layer_sizes
    assert (loaded.activation, loaded.init, loaded.dropout) == (activation, "glorot", 0.25)
    assert loaded.dtype == np.dtype(dtype)
    assert loaded.parameters().dtype == np.dtype(dtype)
    np.testing.assert_array_equal(loaded.parameters(), model.parameters())
    X = np.random.default_rng(1).normal(size=(9, 6))
    np.testing.assert_array_equal(loaded.predict_logits(X), model.predict_logits(X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_loaded_model_keeps_training_like_the_original(tmp_path):
    # A loaded model's arrays are writable and give the same gradients as the original's.
    model = _model(dtype="float64")
    mlp.save_model(model, tmp_path / "model.npz")
    loaded, _ = mlp.load_model(tmp_path / "model.npz")
    X, y = np.random.default_rng(2).normal(size=(4, 6)), np.array([0, 1, 2, 1])
    assert loaded.loss_and_gradients(X, y) == model.loss_and_gradients(X, y)
    np.testing.assert_array_equal(loaded.gradients(), model.gradients())
    mlp.SGD(loaded.parameters(), 0.1).step(loaded.gradients())


def test_saving_twice_gives_identical_bytes(tmp_path):
    # The same model and metadata always produce the same file, so DVC sees no spurious change;
    # writing to an open binary file gives the same bytes as writing to a path.
    model = _model()
    mlp.save_model(model, tmp_path / "first.npz", metadata={"b": 1, "a": 2})
    mlp.save_model(model, tmp_path / "second.npz", metadata={"a": 2, "b": 1})
    with open(tmp_path / "third.npz", "wb") as handle:
        mlp.save_model(model, handle, metadata={"a": 2, "b": 1})
    first = (tmp_path / "first.npz").read_bytes()
    assert first == (tmp_path / "second.npz").read_bytes() == (tmp_path / "third.npz").read_bytes()


def test_save_leaves_only_the_model_file(tmp_path):
    # Saving (also over an existing file) leaves no temporary file beside the target.
    mlp.save_model(_model(seed=0), tmp_path / "model.npz")
    mlp.save_model(_model(seed=1), tmp_path / "model.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]
    loaded, _ = mlp.load_model(tmp_path / "model.npz")
    np.testing.assert_array_equal(loaded.layers[0].W, _model(seed=1).layers[0].W)


def _assert_rejected(path, match=None):
    """load_model raises ModelFileError naming the file (and matching `match`)."""
    with pytest.raises(mlp.ModelFileError) as raised:
        mlp.load_model(path)
    assert str(path) in str(raised.value)
    if match is not None:
        assert match in str(raised.value), str(raised.value)


def test_missing_file_is_rejected(tmp_path):
    # A missing model file is a ModelFileError naming the file, not a bare FileNotFoundError.
    _assert_rejected(tmp_path / "absent.npz", "no such model file")


@pytest.mark.parametrize("fraction", [0.0, 0.001, 0.1, 0.5, 0.9, 0.999])
def test_truncated_file_is_rejected(tmp_path, fraction):
    # A partly written file, cut anywhere, is rejected with the file named.
    path = tmp_path / "model.npz"
    mlp.save_model(_model(), path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    _assert_rejected(path)


@pytest.mark.parametrize("seed", range(3))
def test_random_garbage_is_rejected(tmp_path, seed):
    # Bytes that are not a model at all are rejected with the file named.
    path = tmp_path / "model.npz"
    path.write_bytes(np.random.default_rng(seed).bytes(2000))
    _assert_rejected(path)


def test_plain_npy_file_is_rejected(tmp_path):
    # A single-array .npy file under the model's name is a ModelFileError, not a TypeError.
    path = tmp_path / "model.npz"
    with open(path, "wb") as handle:
        np.save(handle, np.zeros((6, 5), dtype=np.float32))
    _assert_rejected(path)


def test_object_array_is_rejected_without_unpickling(tmp_path):
    # A pickled object array is refused and never unpickled, so loading cannot run foreign code.
    arrays = _saved_arrays(tmp_path)
    arrays["W0"] = np.array([Sentinel(), Sentinel()], dtype=object)
    path = tmp_path / "model.npz"
    np.savez(path, allow_pickle=True, **arrays)
    UNPICKLED.clear()
    _assert_rejected(path)
    assert UNPICKLED == []
    # Control: the sentinel does record unpickling when pickles are allowed.
    with np.load(path, allow_pickle=True) as archive:
        archive["W0"]
    assert UNPICKLED == [True, True]


def _tamper_shape(arrays):
    arrays["W1"] = np.zeros((5, 7), dtype=np.float32)


def _tamper_bias_shape(arrays):
    arrays["b0"] = np.zeros((5, 1), dtype=np.float32)


def _tamper_header_sizes(arrays):
    header = _header(arrays)
    header["layer_sizes"] = [6, 5, 9, 3]
    arrays["header"] = _encode(header)


def _tamper_dtype(arrays):
    arrays["W0"] = arrays["W0"].astype(np.float64)


def _tamper_int_dtype(arrays):
    arrays["b2"] = arrays["b2"].astype(np.int32)


def _tamper_nan(arrays):
    arrays["W2"] = arrays["W2"].copy()
    arrays["W2"][1, 1] = np.nan


def _tamper_inf(arrays):
    arrays["b1"] = arrays["b1"].copy()
    arrays["b1"][0] = np.inf


def _tamper_extra(arrays):
    arrays["W3"] = np.zeros((3, 3), dtype=np.float32)


def _tamper_missing(arrays):
    del arrays["b1"]


def _tamper_no_header(arrays):
    del arrays["header"]


def _tamper_not_json(arrays):
    arrays["header"] = np.frombuffer(b'{"format": "numpy-mlp", layer_sizes', dtype=np.uint8)


def _tamper_not_utf8(arrays):
    arrays["header"] = np.frombuffer(b"\xff\xfe\x00{}", dtype=np.uint8)


def _tamper_header_dtype(arrays):
    arrays["header"] = np.array([1.0, 2.0])


def _tamper_format(arrays):
    header = _header(arrays)
    header["format"] = "other"
    arrays["header"] = _encode(header)


def _tamper_version(arrays):
    header = _header(arrays)
    header["format_version"] = 99
    arrays["header"] = _encode(header)


def _tamper_activation(arrays):
    header = _header(arrays)
    header["activation"] = "relux"
    arrays["header"] = _encode(header)


def _header_field(field, value):
    """A tampering that sets one header field to `value`."""

    def tamper(arrays):
        header = _header(arrays)
        header[field] = value
        arrays["header"] = _encode(header)

    tamper.__name__ = f"_tamper_{field}_{type(value).__name__}"
    return tamper


TAMPERINGS = [
    (_tamper_shape, "array W1 has shape (5, 7)"),
    (_tamper_bias_shape, "array b0 has shape (5, 1)"),
    (_tamper_header_sizes, "array W1 has shape (5, 4)"),
    (_tamper_dtype, "dtype float64"),
    (_tamper_int_dtype, "dtype int32"),
    (_tamper_nan, "array W2 contains NaN or inf"),
    (_tamper_inf, "array b1 contains NaN or inf"),
    (_tamper_extra, "holds arrays"),
    (_tamper_missing, "holds arrays"),
    (_tamper_no_header, "has no header"),
    (_tamper_not_json, "header is not valid JSON"),
    (_tamper_not_utf8, "header is not valid JSON"),
    (_tamper_header_dtype, "array header has shape (2,) and dtype float64; expected uint8"),
    (_tamper_format, "does not describe a numpy-mlp model"),
    (_tamper_version, "format version 99"),
    (_tamper_activation, "unknown activation"),
    (_header_field("activation", ["relu"]), "header has unknown activation ['relu'] (list); expected one of"),
    (_header_field("activation", {"relu": 1}), "header has unknown activation {'relu': 1} (dict)"),
    (_header_field("init", ["he"]), "header has unknown init ['he'] (list)"),
    (_header_field("dtype", {"float32": 1}), "header has unknown dtype {'float32': 1} (dict)"),
    (_header_field("dropout", True), "header has invalid dropout True; expected a number in [0, 1)"),
    (_header_field("dropout", "0.25"), "header has invalid dropout '0.25'"),
    (_header_field("dropout", [0.25]), "header has invalid dropout [0.25]"),
    (_header_field("metadata", ["shallow"]), "header has invalid metadata ['shallow']; expected an object"),
    (_header_field("format_version", True), "format version True is not supported"),
    (_header_field("format_version", "1"), "format version '1' is not supported"),
    (_header_field("layer_sizes", [6, True, 4, 3]), "header has invalid layer_sizes [6, True, 4, 3]"),
    (_header_field("layer_sizes", "6, 5, 4, 3"), "header has invalid layer_sizes '6, 5, 4, 3'"),
    (_header_field("layer_sizes", [6] * 300), "expected 2 to 257 positive integers below 2**24"),
    (
        _header_field("layer_sizes", [16000, 16000, 16000, 3]),
        "header declares layer sizes [16000, 16000, 16000, 3], 512080003 float32 values, over the",
    ),
]


@pytest.mark.parametrize(
    ("tamper", "match"),
    TAMPERINGS,
    ids=[tamper.__name__.removeprefix("_tamper_") for tamper, _ in TAMPERINGS],
)
def test_inconsistent_file_is_rejected(tmp_path, tamper, match):
    # Arrays that disagree with the header, non-finite weights and bad headers (a field of the wrong
    # type included, e.g. a list where a name belongs) are all ModelFileErrors, never TypeErrors.
    arrays = _saved_arrays(tmp_path)
    tamper(arrays)
    path = tmp_path / "model.npz"
    np.savez(path, **arrays)
    _assert_rejected(path, match)


def test_model_file_error_is_a_value_error():
    # Callers that catch ValueError for bad input also catch bad model files.
    assert issubclass(mlp.ModelFileError, ValueError)


def _fuzzed_files(folder: Path) -> list[str]:
    """600 randomly damaged copies of a small model file, stored and deflated, written to `folder`."""
    path = folder / "model.npz"
    mlp.save_model(mlp.MLP([6, 5, 3], np.random.default_rng(0)), path, metadata={"architecture": "fuzz"})
    stored = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    deflated = path.read_bytes()
    path.unlink()
    rng = np.random.default_rng(2024)
    names = []
    for iteration in range(600):
        names.append(f"fuzz{iteration:03d}.npz")
        (folder / names[-1]).write_bytes(mutate(stored if iteration % 2 else deflated, rng))
    return names


def _small_model_members() -> list[forged_zips.Member]:
    """The honest members of a [6, 5, 3] model file, to be forged around."""
    model = mlp.MLP([6, 5, 3], np.random.default_rng(0))
    arrays = [
        forged_zips.array_member(f"{kind}{i}", array)
        for i, layer in enumerate(model.layers)
        for kind, array in (("W", layer.W), ("b", layer.b))
    ]
    return [forged_zips.header_member([6, 5, 3]), *arrays]


def _deflate_bomb(name: str, shape: tuple[int, ...]) -> forged_zips.Member:
    """A member whose few MiB of deflate data inflate to an all-zero float32 array of `shape`."""
    member = forged_zips.deflated(forged_zips.npy_header(shape), math.prod(shape) * 4)
    member.name = f"{name}.npy"
    return member


def _huge_declared_shape() -> bytes:
    members = _small_model_members()
    members[1] = forged_zips.Member.stored("W0.npy", forged_zips.npy_header((2**40,)) + bytes(64))
    return forged_zips.archive(members)


def _huge_declared_member() -> bytes:
    members = _small_model_members()
    members[1].file_size = 0xFFFF_FFF0
    return forged_zips.archive(members)


def _three_deflate_bombs() -> bytes:
    # 0.95 GiB each (under the old per-array limit), 2.9 GiB together, from a file of 3 MB.
    sizes = [16000, 16000, 16000, 16000, 10]
    bomb = _deflate_bomb("W0", (16000, 16000))
    bombs = [dataclasses.replace(bomb, name=f"W{i}.npy") for i in range(3)]
    arrays = [forged_zips.array_member("W3", np.zeros((16000, 10), np.float32))]
    arrays += [
        forged_zips.array_member(f"b{i}", np.zeros(size, np.float32)) for i, size in enumerate(sizes[1:])
    ]
    return forged_zips.archive([forged_zips.header_member(sizes), *bombs, *arrays])


def _header_bomb() -> bytes:
    # A valid header followed by 900 MiB of JSON whitespace: json.loads would need several GiB.
    members = _small_model_members()
    text = members[0].payload[members[0].payload.index(b"{") :]
    members[0] = forged_zips.deflated(
        forged_zips.npy_header((len(text) + (900 << 20),), "|u1") + text, 900 << 20, b" "
    )
    members[0].name = "header.npy"
    return forged_zips.archive(members)


def _lying_deflate_bomb() -> bytes:
    # Declares W0's honest size but its deflate data would inflate to 2 GiB.
    members = _small_model_members()
    bomb = _deflate_bomb("W0", (1 << 29,))
    members[1] = dataclasses.replace(bomb, file_size=members[1].file_size)
    return forged_zips.archive(members)


def _many_members(n_declared: int | None = None) -> bytes:
    members = _small_model_members()
    members += [forged_zips.Member.stored(f"x{i}.npy", b"") for i in range(50_000)]
    return forged_zips.archive(members, n_declared)


BOMBS = {
    "huge declared shape": (
        _huge_declared_shape,
        r"array W0 has shape \(1099511627776,\) and dtype float32; expected float32 of at most \(6, 5\)",
    ),
    "huge declared member": (
        _huge_declared_member,
        r"its 5 members declare \d+ bytes \(4.0 GiB\) uncompressed in total, over the 1073741824",
    ),
    "3 deflate bombs of 0.9 GiB": (
        _three_deflate_bombs,
        r"its 9 members declare 3072\d+ bytes \(2.9 GiB\) uncompressed in total, over the 1073741824 "
        r"bytes a model file may hold; refused before reading them",
    ),
    "header bomb": (
        _header_bomb,
        r"member header.npy declares 94\d+ bytes uncompressed, over its limit of 1048832",
    ),
    "deflate bomb lying about its size": (
        _lying_deflate_bomb,
        r"not a readable model file \(BadZipFile: Bad CRC-32",
    ),
    "50000 members": (_many_members, r"declares 50005 members in a \d+-byte directory; at most 515 members"),
    "directory longer than its count": (
        lambda: _many_members(n_declared=5),
        r"declares 5 members in a \d+-byte directory",
    ),
    "zip64 end record": (
        lambda: forged_zips.archive(_small_model_members(), zip64_locator=True),
        "has a ZIP64 end record",
    ),
}

# How many bytes a load may inflate: a damaged copy of the small model holds about 1 KB, and a
# bomb is refused from its declared sizes or within one read chunk (an honest loader inflating a
# bomb's gigabytes would need far more time and memory than these tests have).
FUZZED_MODEL_BYTES = 1 << 16
BOMB_INFLATE_BYTES = READ_CHUNK

# Loads each file named on the command line in a process whose address space may grow by only
# HEADROOM bytes, and prints one JSON object: {"skip": reason} or {"results": {name: [outcome,
# message, bytes inflated]}}. A loader that over-allocates fails here with MemoryError instead of swapping.
LIMITED_LOADER = """
import json, mmap, os, resource, sys, zipfile
import mlp

inflated = [0]
_read = zipfile.ZipExtFile.read
def _counting_read(self, n=-1):
    data = _read(self, n)
    inflated[0] += len(data)
    return data
zipfile.ZipExtFile.read = _counting_read

HEADROOM = 1536 << 20
def address_space():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()
try:
    soft, hard = address_space() + HEADROOM, resource.getrlimit(resource.RLIMIT_AS)[1]
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
except (OSError, ValueError) as error:
    sys.exit(print(json.dumps({"skip": f"cannot limit the address space here ({error})"})))
try:
    mmap.mmap(-1, 2 * HEADROOM).close()  # maps without touching memory: must fail under the limit
    sys.exit(print(json.dumps({"skip": "the address-space limit is not enforced here"})))
except OSError:
    pass
results = {}
for name in sys.argv[2:]:
    inflated[0] = 0
    try:
        mlp.load_model(os.path.join(sys.argv[1], name))
        outcome, message = "loaded", ""
    except mlp.ModelFileError as error:
        outcome, message = "refused", str(error)
    except BaseException as error:
        outcome, message = type(error).__name__, str(error)
    results[name] = [outcome, message, inflated[0]]
print(json.dumps({"results": results}))
"""


@pytest.fixture(scope="module")
def limited_loads(tmp_path_factory):
    """{file name: (outcome, message, bytes inflated)} for the fuzzed files and the bombs, each loaded in a
    child process whose address space is capped 1.5 GiB above its size (skips where it cannot be)."""
    folder = tmp_path_factory.mktemp("model_files")
    names = _fuzzed_files(folder)
    for index, (build, _) in enumerate(BOMBS.values()):
        names.append(f"bomb{index}.npz")
        (folder / names[-1]).write_bytes(build())
    environment = {
        **os.environ,
        "PYTHONPATH": str(PROJECT),
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    }
    child = subprocess.run(
        [sys.executable, "-c", LIMITED_LOADER, str(folder), *names],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr
    report = json.loads(child.stdout)
    if "skip" in report:
        pytest.skip(report["skip"])
    return {"folder": folder, **report["results"]}


def test_fuzzed_model_files_only_ever_raise_model_file_error(limited_loads):
    # A randomly damaged model file loads or raises ModelFileError naming it: no other error, never
    # more than 1.5 GiB of address space (a MemoryError in the child otherwise), and never more
    # inflated than the honest file holds.
    results = [limited_loads[f"fuzz{iteration:03d}.npz"] for iteration in range(600)]
    for iteration, (outcome, message, inflated) in enumerate(results):
        assert outcome in ("loaded", "refused"), (iteration, outcome, message)
        assert outcome == "loaded" or f"fuzz{iteration:03d}.npz" in message, message
        assert inflated <= FUZZED_MODEL_BYTES, f"iteration {iteration} inflated {inflated} bytes"
    assert sum(outcome == "refused" for outcome, _, _ in results) > 400


@pytest.mark.parametrize("bomb", BOMBS)
def test_memory_bombs_are_refused_before_they_allocate(limited_loads, bomb):
    # Forged sizes, deflate bombs (2.9 GiB from 3 MB), a huge header, 50000 members or a ZIP64 end
    # record: refused with a ModelFileError naming the file and the declared size, within 1.5 GiB of
    # address space and after inflating at most one read chunk past a member's limit.
    name = f"bomb{list(BOMBS).index(bomb)}.npz"
    outcome, message, inflated = limited_loads[name]
    assert outcome == "refused", (outcome, message)
    assert message.startswith(f"{limited_loads['folder'] / name}: ")
    assert re.search(BOMBS[bomb][1], message), message
    assert inflated <= BOMB_INFLATE_BYTES, inflated


@pytest.mark.parametrize(
    ("model", "metadata", "message"),
    [
        (lambda: mlp.MLP([2] * 258, np.random.default_rng(0)), {}, "cannot save a model of 257 layers"),
        (lambda: mlp.MLP([6, 5, 3], np.random.default_rng(0)), {"notes": "x" * (1 << 20)}, "-byte header"),
    ],
    ids=["too_many_layers", "huge_metadata"],
)
def test_saving_what_load_model_would_refuse_fails_before_writing(tmp_path, model, metadata, message):
    # save_model never writes a file load_model would refuse: it raises ValueError and writes nothing.
    with pytest.raises(ValueError, match=message):
        mlp.save_model(model(), tmp_path / "model.npz", metadata=metadata)
    assert list(tmp_path.iterdir()) == []
