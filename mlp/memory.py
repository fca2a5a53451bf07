"""How many bytes building and training an MLP takes, worked out from the sizes alone.

Nothing here allocates, so a caller can refuse an absurd architecture (say a hidden layer of
ten million units) instantly instead of waiting for an allocation to fail or the machine to
swap. The figures follow what model.py, optimizers.py and train.py allocate; they leave out
the data set itself (the caller holds X and the shuffling order) and what NumPy and the BLAS
keep for themselves, so compare them with the free memory with a margin, not to the byte.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy.typing as npt

from mlp.optimizers import OPTIMIZERS
from mlp.validation import check_choice, check_dtype, check_layer_sizes, check_positive

GIB = 1 << 30
DEFAULT_MAX_BYTES = 8 * GIB  # MLP(...) refuses to build a network whose construction needs more
EVAL_CHUNK = 4096  # rows per forward pass when predicting, which bounds evaluation's memory
# An initializer draws each weight in float64; NumPy scales that temporary in place (its
# temporary elision), and the cast to the model's dtype is the layer's weight matrix itself.
INIT_BYTES_PER_WEIGHT = 8


def n_parameters(layer_sizes: Sequence[int]) -> int:
    """The number of weights and biases of an MLP with these layer sizes."""
    sizes = check_layer_sizes(layer_sizes)
    return sum(fan_in * fan_out + fan_out for fan_in, fan_out in itertools.pairwise(sizes))


def model_bytes(layer_sizes: Sequence[int], dtype: str | npt.DTypeLike = "float32") -> int:
    """Peak bytes while MLP(layer_sizes, dtype=dtype) is built, without building it.

    Parameters
    ----------
    layer_sizes : sizes from input to output, e.g. [784, 128, 64, 10].
    dtype : the model's dtype, "float32" or "float64".

    Returns
    -------
    int: the larger of two moments. While initializing, the weights drawn so far plus the
    float64 draw of the layer being drawn; while laying the weights out in the parameter
    vector, every weight twice (per-layer arrays and the vector), plus the gradient vector.
    """
    sizes = check_layer_sizes(layer_sizes)
    itemsize = check_dtype(dtype).itemsize
    weights = [fan_in * fan_out for fan_in, fan_out in itertools.pairwise(sizes)]
    drawing = itemsize * sum(weights) + INIT_BYTES_PER_WEIGHT * max(weights)
    laying_out = 3 * itemsize * n_parameters(sizes)
    return max(drawing, laying_out)


def training_bytes(
    layer_sizes: Sequence[int],
    batch_size: int,
    optimizer: str = "sgd",
    dtype: str | npt.DTypeLike = "float32",
) -> int:
    """Peak bytes to build the MLP and train it with `fit`, without allocating anything.

    Parameters
    ----------
    layer_sizes : sizes from input to output, e.g. [784, 128, 64, 10].
    batch_size : the training mini-batch size.
    optimizer : a name from OPTIMIZERS, whose entry says how many vectors it allocates.
    dtype : the model's dtype, "float32" or "float64".

    Returns
    -------
    int: the larger of model_bytes() and what training holds at once: parameters, gradients,
    the optimizer's vectors, one mini-batch's activations (layer outputs, dropout masks,
    backward temporaries) and one evaluation chunk of EVAL_CHUNK rows. Not included: the
    training and evaluation sets (nor their copies, if they come in another dtype than the
    model's), the per-epoch shuffling order (8 bytes per sample), each evaluation set's
    logits, and augmentation's temporaries (a few times the batch's input).
    """
    sizes = check_layer_sizes(layer_sizes)
    check_positive("batch_size", batch_size, integer=True)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    itemsize = check_dtype(dtype).itemsize
    n_inputs, hidden, n_outputs = sizes[0], sum(sizes[1:-1]), sizes[-1]
    # Per training sample: the gathered input row, each layer's cached output, dropout's mask
    # and masked copy of each hidden output, backward's dX for each hidden layer, and the
    # softmax's copy of the logits.
    per_training_sample = n_inputs + (hidden + n_outputs) + 2 * hidden + hidden + n_outputs
    # Per evaluation row: each layer's cached output.
    per_evaluation_row = hidden + n_outputs
    vectors = (2 + OPTIMIZERS[optimizer].vectors) * n_parameters(sizes)
    activations = int(batch_size) * per_training_sample + EVAL_CHUNK * per_evaluation_row
    return max(model_bytes(sizes, dtype), itemsize * (vectors + activations))
