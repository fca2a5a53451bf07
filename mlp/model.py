"""The multilayer perceptron: a stack of Dense layers, its loss and its gradients.

Saving and loading live in persistence.py; the training loop in train.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mlp.activations import ACTIVATIONS
from mlp.arrays import FloatArray, IntArray
from mlp.layers import INITIALIZERS, Dense, dropout_mask
from mlp.losses import check_loss_labels, cross_entropy_into, softmax, true_index
from mlp.memory import DEFAULT_MAX_BYTES, EVAL_CHUNK, GIB, model_bytes
from mlp.validation import (
    check_choice,
    check_dtype,
    check_features,
    check_fraction,
    check_generator,
    check_layer_sizes,
    check_positive,
    largest_magnitude,
)
from mlp.workspace import Workspace


class MLP:
    """A multilayer perceptron with `activation` hidden layers and a linear output layer.

    Parameters
    ----------
    layer_sizes : sizes from input to output, e.g. [784, 128, 64, 10].
    rng : the Generator that draws the initial weights.
    activation : a name from ACTIVATIONS ("relu" by default).
    init : "he" (default, for ReLU) or "glorot" (for tanh and sigmoid).
    dtype : "float32" (default, fast) or "float64" (for gradient checks).
    dropout : probability of dropping each hidden unit while training; 0 disables it.
    max_bytes : refuse, before allocating anything, a network whose construction needs more
        bytes than this (memory.model_bytes; 8 GiB by default); None disables the check.
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        rng: np.random.Generator,
        activation: str = "relu",
        init: str = "he",
        dtype: str = "float32",
        dropout: float = 0.0,
        *,
        max_bytes: int | None = DEFAULT_MAX_BYTES,
    ) -> None:
        self.layer_sizes = check_layer_sizes(layer_sizes)
        check_generator(rng)
        check_choice("activation", activation, ACTIVATIONS)
        check_choice("init", init, INITIALIZERS)
        self.dtype = check_dtype(dtype)
        check_fraction("dropout", dropout)
        self.activation, self.init, self.dropout = activation, init, float(dropout)
        _check_build_size(self.layer_sizes, self.dtype, max_bytes)
        weights = [
            INITIALIZERS[init](fan_in, fan_out, rng).astype(self.dtype)
            for fan_in, fan_out in itertools.pairwise(self.layer_sizes)
        ]
        biases = [np.zeros(W.shape[1], dtype=self.dtype) for W in weights]
        self._build(weights, biases)

    @classmethod
    def from_weights(
        cls,
        weights: Sequence[FloatArray],
        biases: Sequence[FloatArray],
        activation: str = "relu",
        init: str = "he",
        dropout: float = 0.0,
    ) -> MLP:
        """Rebuild a model from existing arrays (used by load_model); the arrays are copied."""
        model = cls.__new__(cls)
        model.layer_sizes = [weights[0].shape[0]] + [W.shape[1] for W in weights]
        model.activation, model.init, model.dropout = activation, init, float(dropout)
        model.dtype = weights[0].dtype
        model._build(list(weights), list(biases))
        return model

    def _build(self, weights: list[FloatArray], biases: list[FloatArray]) -> None:
        """Lay every parameter out in one vector (weights first, then biases), and likewise
        every gradient, with the layers' W, b, dW and db as views into them.

        One vector lets an optimizer update the whole model in a couple of NumPy calls instead
        of several per layer, which matters at small batch sizes; weights first makes weight
        decay a single slice.
        """
        arrays = [*weights, *biases]
        bounds = np.cumsum([0] + [array.size for array in arrays])
        self._parameters = np.concatenate([array.ravel() for array in arrays]).astype(self.dtype)
        self._gradients = np.zeros_like(self._parameters)
        self._n_weights = int(bounds[len(weights)])
        # weight decay's slices, and its scratch vector, allocated on first use
        self._weights, self._weight_gradients = (
            self._parameters[: self._n_weights],
            self._gradients[: self._n_weights],
        )
        self._decay: FloatArray | None = None

        def views(vector: FloatArray) -> list[FloatArray]:
            return [
                vector[start:stop].reshape(array.shape)
                for start, stop, array in zip(bounds[:-1], bounds[1:], arrays, strict=True)
            ]

        values, grads = views(self._parameters), views(self._gradients)
        n_layers = len(weights)
        self.layers = [
            Dense(
                values[i],
                values[n_layers + i],
                activation=self.activation if i < n_layers - 1 else None,
                needs_input_grad=i > 0,
                grads=(grads[i], grads[n_layers + i]),
            )
            for i in range(n_layers)
        ]
        self._masks: list[FloatArray | None] = [None] * n_layers

    @property
    def n_features(self) -> int:
        return self.layer_sizes[0]

    @property
    def n_classes(self) -> int:
        return self.layer_sizes[-1]

    @property
    def n_parameters(self) -> int:
        """The number of trainable scalars (weights and biases)."""
        return self._parameters.size

    def parameters(self) -> FloatArray:
        """The vector of every weight and bias, which an optimizer updates in place.

        Per-layer arrays are model.layers[i].W and .b, views into this vector.
        """
        return self._parameters

    def gradients(self) -> FloatArray:
        """The vector of every gradient from the last backward(), laid out like parameters()."""
        return self._gradients

    def forward(
        self,
        X: FloatArray,
        training: bool = False,
        rng: np.random.Generator | None = None,
        workspace: Workspace | None = None,
    ) -> FloatArray:
        """Logits (n_samples, n_classes) for X (n_samples, n_features) of the model's dtype.

        With `training` and dropout > 0, hidden units are dropped at random, drawn from `rng`.
        With a `workspace` (of X's row count) every array is written into it, else allocated.
        """
        dropping = training and self.dropout > 0
        if dropping and rng is None:
            raise ValueError("a training pass with dropout needs an rng to draw the dropout masks")
        outputs = [None] * len(self.layers) if workspace is None else workspace.outputs
        masks, masked = (None, None) if workspace is None else (workspace.masks, workspace.masked)
        a = X
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            a = layer.forward(a, outputs[i])
            if dropping and i < last:
                assert rng is not None
                mask = dropout_mask(
                    a.shape, self.dropout, rng, self.dtype, None if masks is None else masks[i]
                )
                # the layer keeps its unmasked output for backward
                a = np.multiply(a, mask, out=None if masked is None else masked[i])
                self._masks[i] = mask
            else:
                self._masks[i] = None
        return a

    def backward(self, dlogits: FloatArray, workspace: Workspace | None = None) -> None:
        """Store every layer's dW and db from d loss / d logits; weights stay unchanged.

        dlogits and every layer's output gradient are overwritten; with a `workspace` (that of
        the forward pass) nothing is allocated.
        """
        dout: FloatArray | None = dlogits
        for i in range(len(self.layers) - 1, -1, -1):
            assert dout is not None
            mask = self._masks[i]
            if mask is not None:
                dout *= mask
            out, scratch = (None, None) if workspace is None else workspace.backward[i]
            dout = self.layers[i].backward(dout, out, scratch)

    def loss_and_gradients(
        self,
        X: FloatArray,
        y: IntArray,
        weight_decay: float = 0.0,
        training: bool = False,
        rng: np.random.Generator | None = None,
        *,
        checked: bool = False,
    ) -> float:
        """One forward and backward pass on a batch; returns its loss, L2 penalty included.

        `training` (with `rng`) applies dropout, as forward() does; without it the gradients are
        those of the deterministic network, as gradient checks need.

        The gradients are then available from gradients(). X must already have the model's
        dtype. y must hold class indices in 0..n_classes-1: they are checked (ValueError)
        unless `checked` says the caller did already. fit runs the same pass as train_step.
        """
        if not checked:
            check_loss_labels(y, len(X), self.n_classes)
        workspace = Workspace(self.layer_sizes, len(X), self.dtype, dropout=training and self.dropout > 0)
        loss = self.train_step(X, true_index(y, self.n_classes), workspace, training, rng)
        if not weight_decay:
            return loss
        self.add_weight_decay(weight_decay)
        return loss + self.penalty(weight_decay)

    def train_step(
        self,
        X: FloatArray,
        true_index: IntArray,
        workspace: Workspace,
        training: bool = False,
        rng: np.random.Generator | None = None,
        true_gap: FloatArray | None = None,
    ) -> float:
        """loss_and_gradients without the L2 penalty, into `workspace`; returns the mean data loss.

        `true_index` is losses.true_index of checked labels; `true_gap` receives each row's
        true-class logit minus its largest (0 where the prediction is right; see
        losses.cross_entropy_into). Nothing is allocated (with dropout in float64, the draws).
        """
        logits = self.forward(X, training, rng, workspace)
        loss = cross_entropy_into(logits, true_index, logits, workspace.loss, true_gap)
        self.backward(logits, workspace)
        return loss

    def squared_weight_norm(self) -> float:
        """sum(W**2) over every layer's weights (biases excluded): the L2 penalty's sum."""
        return float(np.dot(self._weights, self._weights))

    def penalty(self, weight_decay: float) -> float:
        """The L2 penalty 0.5 * weight_decay * sum(W**2) of the current weights; biases are exempt."""
        return 0.5 * weight_decay * self.squared_weight_norm() if weight_decay else 0.0

    def add_weight_decay(self, weight_decay: float) -> None:
        """Add the penalty's gradient, weight_decay * W, to gradients(): the one place weight decay
        is applied. Two passes over the weights into a scratch vector allocated once."""
        if self._decay is None:
            self._decay = np.empty_like(self._weights)
        np.multiply(self._weights, self.dtype.type(weight_decay), out=self._decay)
        self._weight_gradients += self._decay

    def predict_logits(self, X: npt.ArrayLike, batch_size: int = EVAL_CHUNK) -> FloatArray:
        """Logits (n_samples, n_classes) without dropout, computed in chunks to bound memory.

        Raises ValueError if X does not fit the model's dtype, or if its values are so large
        that the logits overflow it (they would give NaN probabilities and arbitrary classes).
        """
        check_positive("batch_size", batch_size, integer=True)
        X = check_features(X, self.n_features, dtype=self.dtype)
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow raises just below
            logits = self._chunked_logits(X, batch_size)
        if not np.isfinite(logits).all():
            raise ValueError(overflow_message("X", X))
        return logits

    def _chunked_logits(self, X: FloatArray, batch_size: int = EVAL_CHUNK) -> FloatArray:
        """predict_logits without its checks, for X already checked and cast (train.py uses it)."""
        # forward() returns a new array per call (the last layer's matmul allocates it).
        chunks = [self.forward(X[i : i + batch_size]) for i in range(0, len(X), batch_size)]
        if not chunks:
            return np.zeros((0, self.n_classes), dtype=self.dtype)
        return np.concatenate(chunks)

    def predict_proba(self, X: npt.ArrayLike) -> FloatArray:
        """Class probabilities (n_samples, n_classes): the softmax of the logits."""
        return softmax(self.predict_logits(X))

    def predict(self, X: npt.ArrayLike) -> IntArray:
        """The most likely class (n_samples,) for each row of X."""
        labels: IntArray = np.argmax(self.predict_logits(X), axis=1)
        return labels


def overflow_message(name: str, X: FloatArray) -> str:
    """Why a model gave non-finite logits or loss for inputs `X` of finite values, and the fix."""
    return (
        f"{name} is too large for the model: its logits overflow {X.dtype} (the largest |value| "
        f"in {name} is {largest_magnitude(X):.3g}); scale the inputs, e.g. to [0, 1]"
    )


def _check_build_size(layer_sizes: list[int], dtype: np.dtype[Any], max_bytes: int | None) -> None:
    """Refuse, before allocating, a network whose construction needs more than `max_bytes`."""
    if max_bytes is None:
        return
    check_positive("max_bytes", max_bytes)
    needed = model_bytes(layer_sizes, dtype)
    if needed > max_bytes:
        raise ValueError(
            f"layer_sizes {layer_sizes} need about {needed / GIB:.1f} GiB to build in {dtype.name} "
            f"(memory.model_bytes), over the max_bytes limit of {max_bytes / GIB:.1f} GiB; "
            "use smaller layers, or pass a larger max_bytes (None for no limit) if the machine has the memory"
        )
