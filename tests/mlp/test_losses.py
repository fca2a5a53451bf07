"""Tests of the fused softmax cross-entropy: its value, its gradient and its numerical stability."""

import numpy as np
import pytest

import mlp
from tests.support.gradcheck import numerical_gradient, relative_error


def _logits_and_labels(seed: int = 0, n_samples: int = 5, n_classes: int = 4):
    rng = np.random.default_rng(seed)
    return rng.normal(scale=3.0, size=(n_samples, n_classes)), rng.integers(0, n_classes, n_samples)


def _naive_loss(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean -log softmax(logits)[y], straight from the definition."""
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return float(-np.mean(np.log(probs[np.arange(len(y)), y])))


def test_loss_value_matches_definition():
    # The loss is the batch mean of -log p(true class), not a mean over classes too.
    logits, y = _logits_and_labels()
    loss, _ = mlp.softmax_cross_entropy(logits, y)
    assert isinstance(loss, float)
    assert loss == pytest.approx(_naive_loss(logits, y), rel=1e-12)


def test_uniform_logits_give_log_n_classes():
    # Equal logits mean a uniform softmax, whose cross-entropy is exactly log(n_classes).
    loss, dlogits = mlp.softmax_cross_entropy(np.zeros((3, 4)), np.array([0, 1, 3]))
    assert loss == pytest.approx(np.log(4), rel=1e-15)
    expected = np.full((3, 4), 0.25)
    expected[[0, 1, 2], [0, 1, 3]] -= 1
    np.testing.assert_allclose(dlogits, expected / 3, rtol=1e-15)


@pytest.mark.parametrize("seed", range(3))
def test_gradient_matches_finite_differences(seed):
    # dlogits is the exact derivative of the returned loss (central differences, float64).
    logits, y = _logits_and_labels(seed)
    _, analytic = mlp.softmax_cross_entropy(logits.copy(), y)
    numeric = numerical_gradient(lambda: mlp.softmax_cross_entropy(logits, y)[0], logits)
    assert relative_error(analytic, numeric) < 1e-6


def test_gradient_rows_sum_to_zero():
    # Each row of probs - onehot sums to zero; a wrong normalisation would break this.
    logits, y = _logits_and_labels(n_samples=7, n_classes=10)
    _, dlogits = mlp.softmax_cross_entropy(logits, y)
    np.testing.assert_allclose(dlogits.sum(axis=1), 0, atol=1e-15)


def test_input_logits_are_not_modified():
    # The loss may work in place on its own buffers but never on the caller's logits.
    logits, y = _logits_and_labels()
    before = logits.copy()
    mlp.softmax_cross_entropy(logits, y)
    np.testing.assert_array_equal(logits, before)


@pytest.mark.parametrize("offset", [1e3, -1e3])
def test_huge_logits_are_shift_invariant_without_overflow(offset):
    # Subtracting the row max keeps exp() from overflowing; softmax ignores a common shift.
    logits, y = _logits_and_labels()
    with np.errstate(over="raise", invalid="raise"):
        shifted_loss, shifted_grad = mlp.softmax_cross_entropy(logits + offset, y)
    loss, grad = mlp.softmax_cross_entropy(logits, y)
    assert shifted_loss == pytest.approx(loss, rel=1e-9)
    np.testing.assert_allclose(shifted_grad, grad, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_confidently_wrong_prediction_gives_finite_loss(dtype):
    # log-sum-exp never takes log(0): a wrong class at a 1e30 margin costs about 1e30, not inf.
    logits = np.array([[1e30, 0.0, 0.0]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, dlogits = mlp.softmax_cross_entropy(logits, np.array([1]))
    assert loss == pytest.approx(1e30, rel=1e-6)
    np.testing.assert_allclose(dlogits, [[1.0, -1.0, 0.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradient_keeps_logits_dtype(dtype):
    # dlogits has the logits' dtype so float32 training stays float32; the loss is a Python float.
    logits, y = _logits_and_labels()
    loss, dlogits = mlp.softmax_cross_entropy(logits.astype(dtype), y)
    assert dlogits.dtype == dtype
    assert isinstance(loss, float)


@pytest.mark.parametrize(
    ("logits", "y", "message"),
    [
        (np.zeros((3, 4)), np.array([0, 1, -1]), r"y has labels outside 0\.\.3 \(min -1, max 1\)"),
        (np.zeros((3, 4)), np.array([0, 4, 1]), r"y has labels outside 0\.\.3 \(min 0, max 4\)"),
        (np.zeros((3, 4)), np.array([0, 1, -1], dtype=np.int8), r"labels outside 0\.\.3"),
        (np.zeros((3, 4)), np.array([0, 1, -1], dtype=">i8"), r"labels outside 0\.\.3"),
        (np.zeros((3, 4)), np.array([0, 1, 255], dtype=np.uint8), r"labels outside 0\.\.3"),
        (np.zeros((3, 4)), np.array([0.0, 1.0, 2.0]), "y must hold integer class labels, got dtype float64"),
        (np.zeros((3, 4)), np.array([True, False, True]), "y must hold integer class labels, got dtype bool"),
        (np.zeros((3, 4)), np.array([0, 1]), r"y must be a vector of 3 labels, one per row of logits"),
        (np.zeros((3, 4)), [0, 1, 2], r"y must be a vector of 3 labels"),
        (np.zeros((0, 4)), np.array([], dtype=int), "logits has no rows"),
        (np.zeros(4), np.array([0]), r"logits must be a 2-D float array \(n_samples, n_classes\)"),
        (np.zeros((3, 4), dtype=int), np.array([0, 1, 2]), "logits must be a 2-D float array"),
    ],
    ids=[
        "negative",
        "too_big",
        "int8_negative",
        "big_endian_negative",
        "uint8_too_big",
        "float_labels",
        "bool_labels",
        "wrong_length",
        "list_labels",
        "empty_batch",
        "1d_logits",
        "int_logits",
    ],
)
def test_bad_labels_and_logits_are_value_errors(logits, y, message):
    # A label of -1 would silently score the last class and one of n_classes would be an IndexError;
    # both, like float labels or an empty batch (a division by zero), are named ValueErrors.
    with pytest.raises(ValueError, match=message):
        mlp.softmax_cross_entropy(logits, y)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32, np.uint64, ">i8"])
def test_every_integer_label_dtype_gives_the_same_loss(dtype):
    # The range check's unsigned view changes nothing for valid labels of any integer dtype.
    logits, y = _logits_and_labels()
    expected = mlp.softmax_cross_entropy(logits, y)
    loss, dlogits = mlp.softmax_cross_entropy(logits, y.astype(dtype))
    assert loss == expected[0]
    np.testing.assert_array_equal(dlogits, expected[1])


def test_the_checked_fast_path_gives_identical_results():
    # checked=True (fit's per-step path, labels validated once per run) skips only the checks.
    logits, y = _logits_and_labels(n_samples=32, n_classes=10)
    loss, dlogits = mlp.softmax_cross_entropy(logits, y)
    fast_loss, fast_dlogits = mlp.softmax_cross_entropy(logits, y, checked=True)
    assert fast_loss == loss
    np.testing.assert_array_equal(fast_dlogits, dlogits)
