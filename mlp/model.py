"""The multilayer perceptron: a stack of Dense layers, its loss and its gradients.

Saving and loading live in persistence.py; the training loop in train.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from mlp.activations import ACTIVATIONS
from mlp.arrays import FloatArray, IntArray
from mlp.layers import INITIALIZERS, Dense, dropout_mask
from mlp.losses import softmax_cross_entropy
from mlp.validation import (
    check_choice,
    check_features,
    check_fraction,
    check_layer_sizes,
)

DTYPES = ("float32", "float64")


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
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        rng: np.random.Generator,
        activation: str = "relu",
        init: str = "he",
        dtype: str = "float32",
        dropout: float = 0.0,
    ) -> None:
        self.layer_sizes = check_layer_sizes(layer_sizes)
        check_choice("activation", activation, ACTIVATIONS)
        check_choice("init", init, INITIALIZERS)
        check_choice("dtype", dtype if isinstance(dtype, str) else np.dtype(dtype).name, DTYPES)
        check_fraction("dropout", dropout)
        self.activation, self.init, self.dropout = activation, init, float(dropout)
        self.dtype = np.dtype(dtype)
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
        self, X: FloatArray, training: bool = False, rng: np.random.Generator | None = None
    ) -> FloatArray:
        """Logits (n_samples, n_classes) for X (n_samples, n_features) of the model's dtype.

        With `training` and dropout > 0, hidden units are dropped at random, drawn from `rng`.
        """
        dropping = training and self.dropout > 0
        if dropping and rng is None:
            raise ValueError("a training pass with dropout needs an rng to draw the dropout masks")
        a = X
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            a = layer.forward(a)
            if dropping and i < last:
                assert rng is not None
                mask = dropout_mask(a.shape, self.dropout, rng, self.dtype)
                a = a * mask  # a new array: the layer keeps its unmasked output for backward
                self._masks[i] = mask
            else:
                self._masks[i] = None
        return a

    def backward(self, dlogits: FloatArray) -> None:
        """Store every layer's dW and db from d loss / d logits; weights stay unchanged."""
        dout: FloatArray | None = dlogits
        for i in range(len(self.layers) - 1, -1, -1):
            assert dout is not None
            mask = self._masks[i]
            if mask is not None:
                dout *= mask
            dout = self.layers[i].backward(dout)

    def loss_and_gradients(
        self,
        X: FloatArray,
        y: IntArray,
        weight_decay: float = 0.0,
        training: bool = False,
        rng: np.random.Generator | None = None,
    ) -> float:
        """One forward and backward pass on a batch; returns its loss, L2 penalty included.

        `training` (with `rng`) applies dropout, as forward() does; without it the gradients are
        those of the deterministic network, as gradient checks need.

        The gradients are then available from gradients(). X must already have the model's
        dtype and y be int class indices; train.fit checks both once per run.
        """
        loss, dlogits = softmax_cross_entropy(self.forward(X, training, rng), y)
        self.backward(dlogits)
        return loss + self._weight_decay(weight_decay)

    def _weight_decay(self, weight_decay: float) -> float:
        """Add the gradient of the L2 penalty 0.5 * weight_decay * sum(W**2) and return the
        penalty; biases are exempt. The one place weight decay is applied."""
        if not weight_decay:
            return 0.0
        weights = self._parameters[: self._n_weights]
        self._gradients[: self._n_weights] += self.dtype.type(weight_decay) * weights
        return 0.5 * weight_decay * float(np.dot(weights, weights))

    def predict_logits(self, X: npt.ArrayLike, batch_size: int = 4096) -> FloatArray:
        """Logits (n_samples, n_classes) without dropout, computed in chunks to bound memory."""
        X = check_features(X, self.n_features).astype(self.dtype, copy=False)
        # forward() returns a new array per call (the last layer's matmul allocates it).
        chunks = [self.forward(X[i : i + batch_size]) for i in range(0, len(X), batch_size)]
        if not chunks:
            return np.zeros((0, self.n_classes), dtype=self.dtype)
        return np.concatenate(chunks)

    def predict_proba(self, X: npt.ArrayLike) -> FloatArray:
        """Class probabilities (n_samples, n_classes): the softmax of the logits."""
        logits = self.predict_logits(X)
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities: FloatArray = exp / exp.sum(axis=1, keepdims=True)
        return probabilities

    def predict(self, X: npt.ArrayLike) -> IntArray:
        """The most likely class (n_samples,) for each row of X."""
        labels: IntArray = np.argmax(self.predict_logits(X), axis=1)
        return labels
