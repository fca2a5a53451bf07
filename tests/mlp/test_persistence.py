"""Tests of save_model and load_model: round trips, reproducible bytes and rejection of bad files."""

import json
import time
import zipfile

import numpy as np
import pytest

import mlp
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
    (_tamper_header_dtype, "header array has dtype float64"),
    (_tamper_format, "does not describe a numpy-mlp model"),
    (_tamper_version, "format version 99"),
    (_tamper_activation, "unknown activation"),
]


@pytest.mark.parametrize(
    ("tamper", "match"),
    TAMPERINGS,
    ids=[tamper.__name__.removeprefix("_tamper_") for tamper, _ in TAMPERINGS],
)
def test_inconsistent_file_is_rejected(tmp_path, tamper, match):
    # Arrays that disagree with the header, non-finite weights and bad headers are all ModelFileErrors.
    arrays = _saved_arrays(tmp_path)
    tamper(arrays)
    path = tmp_path / "model.npz"
    np.savez(path, **arrays)
    _assert_rejected(path, match)


def test_model_file_error_is_a_value_error():
    # Callers that catch ValueError for bad input also catch bad model files.
    assert issubclass(mlp.ModelFileError, ValueError)


def _mutate(valid: bytes, rng: np.random.Generator) -> bytes:
    """A random truncation, bit flips, overwritten run or insertion of `valid`."""
    data = bytearray(valid)
    action = rng.integers(4)
    if action == 0:
        return bytes(data[: rng.integers(len(data))])
    if action == 1:
        for position in rng.integers(0, len(data), size=rng.integers(1, 4)):
            data[position] ^= 1 << int(rng.integers(8))
    elif action == 2:
        start = int(rng.integers(len(data)))
        data[start : start + 8] = rng.bytes(8)
    else:
        start = int(rng.integers(len(data)))
        data[start:start] = rng.bytes(int(rng.integers(1, 9)))
    return bytes(data)


def test_fuzzed_model_files_only_ever_raise_model_file_error(tmp_path):
    # A randomly damaged model file loads or raises ModelFileError naming it: no other error, never slowly.
    path = tmp_path / "model.npz"
    mlp.save_model(mlp.MLP([6, 5, 3], np.random.default_rng(0)), path, metadata={"architecture": "fuzz"})
    stored = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    deflated = path.read_bytes()
    rng = np.random.default_rng(2024)
    outcomes = {"loaded": 0, "refused": 0}
    for iteration in range(600):
        path.write_bytes(_mutate(stored if iteration % 2 else deflated, rng))
        started = time.monotonic()
        try:
            mlp.load_model(path)
            outcomes["loaded"] += 1
        except mlp.ModelFileError as error:
            assert str(path) in str(error)
            outcomes["refused"] += 1
        assert time.monotonic() - started < 1.0, f"iteration {iteration} took too long"
    assert outcomes["refused"] > 400, outcomes
