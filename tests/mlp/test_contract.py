"""Tests of the input contract: its scaling, and model files that carry it (or predate it)."""

import json

import numpy as np
import pytest

import mlp
from mlp.persistence import CONTRACT_ARRAYS

LABELS = tuple("abc")


def _contract(scaling="standardize", n_features=6, seed=0) -> mlp.InputContract:
    rng = np.random.default_rng(seed)
    mean = rng.random(n_features, dtype=np.float32)
    std = rng.random(n_features, dtype=np.float32) + np.float32(0.5)
    return mlp.InputContract((2, 3), LABELS, scaling, mean, std)


def test_unit_scaling_is_exactly_pixels_over_255():
    contract = mlp.InputContract.unit((2, 2), ("x", "y"))
    pixels = np.arange(256, dtype=np.uint8).reshape(64, 2, 2)
    expected = pixels.reshape(64, -1).astype(np.float32) / np.float32(255)
    assert np.array_equal(contract.features(pixels), expected)
    assert contract.features(pixels).tobytes() == expected.tobytes()  # bit for bit, not just equal


def test_standardize_is_the_formula_in_float32():
    contract = _contract()
    pixels = np.random.default_rng(1).integers(0, 256, (5, 2, 3), dtype=np.uint8)
    unit = pixels.reshape(5, -1).astype(np.float32) / np.float32(255)
    assert contract.features(pixels).tobytes() == ((unit - contract.mean) / contract.std).tobytes()
    assert contract.features(pixels.reshape(5, 6)).tobytes() == contract.features(pixels).tobytes()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mean": np.zeros(5, np.float32)}, "mean must be 6 float32 values"),
        ({"std": np.ones(6, np.float64)}, "std must be 6 float32 values"),
        ({"std": np.zeros(6, np.float32)}, "std above 0"),
        ({"mean": np.full(6, np.nan, np.float32)}, "must be finite"),
        ({"labels": ("a", "a", "b")}, "labels must be distinct"),
        ({"labels": ("a", "b\x1b[2J", "c")}, "labels must be printable strings"),
    ],
)
def test_a_contract_that_cannot_scale_is_refused(change, message):
    fields = {"shape": (2, 3), "labels": LABELS, "scaling": "x", "mean": np.zeros(6, np.float32)}
    fields |= {"std": np.ones(6, np.float32)} | change
    with pytest.raises(ValueError, match=message):
        mlp.InputContract(**fields)


def test_features_refuse_inputs_of_another_size():
    with pytest.raises(
        ValueError, match=r"expected raw inputs of shape \(n, 2, 3\) or \(n, 6\), got \(4, 7\)"
    ):
        _contract().features(np.zeros((4, 7)))


def _model(n_features=6) -> mlp.MLP:
    return mlp.MLP([n_features, 4, 3], np.random.default_rng(0))


def test_a_model_file_carries_its_contract(tmp_path):
    contract, model = _contract(), _model()
    mlp.save_model(model, tmp_path / "m.npz", metadata={"run": "x"}, contract=contract)
    loaded = mlp.load_classifier(tmp_path / "m.npz")
    assert (loaded.contract.shape, loaded.contract.labels, loaded.contract.scaling) == (
        (2, 3),
        LABELS,
        "standardize",
    )
    assert np.array_equal(loaded.contract.mean, contract.mean) and np.array_equal(
        loaded.contract.std, contract.std
    )
    assert loaded.metadata == {"run": "x"}
    pixels = np.random.default_rng(2).integers(0, 256, (7, 2, 3), dtype=np.uint8)
    assert np.array_equal(loaded.predict_proba(pixels), model.predict_proba(contract.features(pixels)))


def test_a_contract_for_another_model_is_refused_before_writing(tmp_path):
    with pytest.raises(ValueError, match="describes 6 features and 3 classes, the model has 5 and 3"):
        mlp.save_model(_model(5), tmp_path / "m.npz", contract=_contract())
    assert not list(tmp_path.iterdir())


def _rewrite(path, header_change=None, drop=(), remove=()):
    """The model file at `path` rewritten with its header changed and some arrays left out."""
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files if name not in drop}
    header = json.loads(arrays["header"].tobytes()) | (header_change or {})
    for key in remove:
        del header[key]
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(path, **arrays)


def test_a_file_from_before_the_contract_loads_but_cannot_classify(tmp_path):
    path = tmp_path / "old.npz"
    mlp.save_model(_model(), path)
    _rewrite(path, {"format_version": 1}, remove=["input"])  # what version 1 wrote
    model, _ = mlp.load_model(path)  # the pipeline's own stages can still read it
    assert model.layer_sizes == [6, 4, 3]
    with pytest.raises(mlp.ModelFileError, match=r"old.npz: has no input contract .* retrain it"):
        mlp.load_classifier(path)


@pytest.mark.parametrize(
    ("header_change", "drop", "message"),
    [
        ({"input": {"shape": [7], "labels": list(LABELS), "scaling": "x"}}, (), "invalid input contract"),
        ({"input": {"shape": [2, 3], "labels": ["a"], "scaling": "x"}}, (), "invalid input contract"),
        ({"input": [1, 2]}, (), "invalid input"),
        ({}, ("input_std",), "holds arrays"),
    ],
)
def test_a_forged_contract_is_refused(tmp_path, header_change, drop, message):
    path = tmp_path / "m.npz"
    mlp.save_model(_model(), path, contract=_contract())
    _rewrite(path, header_change, drop)
    with pytest.raises(mlp.ModelFileError, match=message):
        mlp.load_model(path)


def test_contract_arrays_with_a_zero_std_are_refused(tmp_path):
    path = tmp_path / "m.npz"
    mlp.save_model(_model(), path, contract=_contract())
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays[CONTRACT_ARRAYS[1]] = np.zeros(6, np.float32)
    np.savez(path, **arrays)
    with pytest.raises(mlp.ModelFileError, match="std above 0"):
        mlp.load_classifier(path)


@pytest.mark.parametrize(
    "pixels", [np.full((1, 6), 0.5), np.full((1, 6), -1), np.full((1, 6), 256), np.full((1, 6), np.nan)]
)
def test_features_refuse_what_is_not_raw_pixels(pixels):
    # Inputs scaled already (0..1) would be scaled twice and read as noise: refused with the reason.
    with pytest.raises(ValueError, match="expected raw pixels, whole numbers 0 to 255"):
        _contract().features(pixels)
    assert _contract().features(np.full((1, 6), 255.0)).shape == (1, 6)  # whole floats are pixels too
