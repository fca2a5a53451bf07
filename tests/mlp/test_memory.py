"""Tests of the memory estimates: close to what building and training allocate, instant for any size."""

import re
import tracemalloc

import numpy as np
import pytest

import mlp
from mlp.memory import EVAL_CHUNK, GIB, model_bytes, n_parameters, training_bytes

CASES = [
    ([784, 512, 10], 64, "adam", "float32", 0.0),
    ([784, 256, 256, 10], 32, "nesterov", "float64", 0.5),
    ([100, 3000, 10], 256, "sgd", "float32", 0.3),
]


@pytest.mark.parametrize(("layer_sizes", "batch_size", "optimizer", "dtype", "dropout"), CASES)
def test_estimates_match_what_tracemalloc_measures(layer_sizes, batch_size, optimizer, dtype, dropout):
    # model_bytes and training_bytes are within 25% of the peaks NumPy really allocates while building
    # the model and while training it for an epoch with an evaluation set of one chunk (data excluded).
    X = np.random.default_rng(0).random((EVAL_CHUNK, layer_sizes[0])).astype(dtype)
    y = np.random.default_rng(1).integers(0, layer_sizes[-1], len(X))
    rng = np.random.default_rng(2)
    tracemalloc.start()
    try:
        model = mlp.MLP(layer_sizes, rng, dtype=dtype, dropout=dropout)
        build_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        optimizer_object = mlp.make_optimizer(optimizer, model.parameters(), 0.01)
        mlp.fit(
            model,
            X,
            y,
            optimizer=optimizer_object,
            rng=rng,
            epochs=1,
            batch_size=batch_size,
            eval_sets={"X": (X, y)},
        )
        training_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 0.8 < model_bytes(layer_sizes, dtype) / build_peak < 1.25
    assert 0.8 < training_bytes(layer_sizes, batch_size, optimizer, dtype) / training_peak < 1.25


@pytest.mark.parametrize("name", sorted(mlp.OPTIMIZERS))
def test_optimizer_vectors_are_those_each_optimizer_allocates(name):
    # OPTIMIZERS[name].vectors counts the parameter-sized arrays an optimizer keeps besides the parameters.
    params = np.zeros(1000, dtype=np.float32)
    optimizer = mlp.make_optimizer(name, params, 0.1)
    vectors = [
        value
        for value in vars(optimizer).values()
        if isinstance(value, np.ndarray) and value.shape == params.shape and value is not params
    ]
    assert len(vectors) == mlp.OPTIMIZERS[name].vectors


def test_estimates_grow_as_they_should():
    # Each optimizer vector adds one parameter vector of bytes, and float64 doubles every figure.
    sizes, n = [784, 128, 64, 10], n_parameters([784, 128, 64, 10])
    sgd, momentum, adam = (training_bytes(sizes, 32, name) for name in ("sgd", "momentum", "adam"))
    assert momentum - sgd == 4 * n and adam - momentum == 2 * 4 * n
    assert training_bytes(sizes, 32, "adam", "float64") == 2 * adam
    assert model_bytes(sizes, np.float64) == 2 * model_bytes(sizes)
    assert training_bytes(sizes, 64) > training_bytes(sizes, 32)


def test_an_absurd_network_is_estimated_without_allocating():
    # Ten million hidden units: about 89 GiB to build, more to train, worked out without allocating.
    tracemalloc.start()
    build, train = model_bytes([784, 10_000_000, 10]), training_bytes([784, 10_000_000, 10], 32, "adam")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1 << 20, peak
    assert 88 * GIB < build < 89 * GIB
    assert train == 4 * 5 * n_parameters([784, 10_000_000, 10]) + 4 * (
        32 * (784 + 4 * 10_000_000 + 2 * 10) + EVAL_CHUNK * (10_000_000 + 10)
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'; choose from"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"dtype": "float16"}, "unknown dtype 'float16'; choose from ['float32', 'float64']"),
        ({"layer_sizes": [784]}, "layer_sizes needs an input and an output size"),
    ],
)
def test_invalid_arguments_are_named(arguments, message):
    # The estimator checks its arguments like the classes it models.
    arguments = {"layer_sizes": [784, 10], "batch_size": 32, **arguments}
    with pytest.raises(ValueError, match=re.escape(message)):
        training_bytes(**arguments)
