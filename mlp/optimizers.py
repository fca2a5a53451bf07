"""Optimizers: SGD (plain, momentum, Nesterov) and Adam, and the name -> factory table.

An optimizer is built on the model's parameter vector (`model.parameters()`) and keeps its
own state. `step(grads)` updates the vector in place from the gradient vector of the same
shape, and may overwrite `grads` with the update (the model's backward rewrites every gradient
each step, so this spares a parameter-sized scratch vector and the memory traffic through it).
`learning_rate` is an attribute that the training loop sets from the schedule before each
epoch. Adding an optimizer is one class (or one configuration of an existing one) plus
one entry in OPTIMIZERS, which names the hyperparameters it takes and the vectors it allocates.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from mlp.arrays import FloatArray
from mlp.validation import check_choice, check_fraction, check_positive


class Optimizer(Protocol):
    """What `fit` needs of an optimizer."""

    learning_rate: float

    def step(self, grads: FloatArray) -> None:
        """Update the parameters in place from their gradients, which it may overwrite."""


class SGD:
    """Stochastic gradient descent, with optional (Nesterov) momentum.

    With momentum mu the velocity is v <- mu v + g and the update p <- p - lr v (PyTorch's
    convention); Nesterov uses p <- p - lr (g + mu v). mu = 0 is the plain p <- p - lr g.
    """

    def __init__(
        self, params: FloatArray, learning_rate: float, momentum: float = 0.0, nesterov: bool = False
    ) -> None:
        check_positive("learning_rate", learning_rate)
        check_fraction("momentum", momentum)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise ValueError(f"nesterov must be True or False, got {nesterov!r} ({type(nesterov).__name__})")
        if nesterov and momentum == 0:
            raise ValueError("nesterov needs a momentum above 0, e.g. momentum: 0.9")
        self.params = params
        self.learning_rate = float(learning_rate)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.velocity = np.zeros_like(params) if momentum else None
        # Nesterov's update needs g after mu v is formed; the others write theirs into g.
        self._update = np.empty_like(params) if nesterov else None

    def step(self, grads: FloatArray) -> None:
        """Apply one update to the parameters, in place; grads is overwritten."""
        p, g, v = self.params, grads, self.velocity
        lr = p.dtype.type(self.learning_rate)
        if v is None:
            update = np.multiply(g, lr, out=g)
        else:
            mu = p.dtype.type(self.momentum)
            v *= mu
            v += g
            if self._update is not None:
                update = np.multiply(v, mu, out=self._update)
                update += g
                update *= lr
            else:
                update = np.multiply(v, lr, out=g)
        p -= update


class Adam:
    """Adam (Kingma & Ba 2015) with bias-corrected first and second moments.

    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;  t <- t + 1
    p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
    """

    def __init__(
        self,
        params: FloatArray,
        learning_rate: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
    ) -> None:
        check_positive("learning_rate", learning_rate)
        check_fraction("beta1", beta1)
        check_fraction("beta2", beta2)
        check_positive("epsilon", epsilon)
        self.params = params
        self.learning_rate = float(learning_rate)
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)
        self.t = 0
        self.m = np.zeros_like(params)
        self.v = np.zeros_like(params)
        self._scratch = np.empty_like(params)

    def step(self, grads: FloatArray) -> None:
        """Apply one update to the parameters, in place; grads is left unchanged."""
        self.t += 1
        correction1 = 1 - self.beta1**self.t
        correction2 = 1 - self.beta2**self.t
        p, g, m, v, scratch = self.params, grads, self.m, self.v, self._scratch
        dtype = p.dtype.type
        m *= dtype(self.beta1)
        np.multiply(g, dtype(1 - self.beta1), out=scratch)
        m += scratch
        v *= dtype(self.beta2)
        np.multiply(g, g, out=scratch)
        scratch *= dtype(1 - self.beta2)
        v += scratch
        # scratch <- sqrt(v / c2) + eps, then the update lr * (m / c1) / scratch
        np.divide(v, dtype(correction2), out=scratch)
        np.sqrt(scratch, out=scratch)
        scratch += dtype(self.epsilon)
        np.divide(m, scratch, out=scratch)
        scratch *= dtype(self.learning_rate / correction1)
        p -= scratch


@dataclass(frozen=True)
class OptimizerEntry:
    """How to build one optimizer of the table: `build(params, learning_rate, **hyperparameters)`."""

    build: Callable[..., Optimizer]
    hyperparameters: tuple[str, ...] = ()  # the keyword arguments it takes (params.yaml's train keys)
    vectors: int = 0  # parameter-sized vectors it allocates: its state and any scratch (mlp.memory)


OPTIMIZERS: dict[str, OptimizerEntry] = {
    "sgd": OptimizerEntry(SGD),
    "momentum": OptimizerEntry(functools.partial(SGD, momentum=0.9), ("momentum",), vectors=1),
    "nesterov": OptimizerEntry(functools.partial(SGD, momentum=0.9, nesterov=True), ("momentum",), vectors=2),
    "adam": OptimizerEntry(Adam, ("beta1", "beta2", "epsilon"), vectors=3),
}
HYPERPARAMETERS = frozenset(key for entry in OPTIMIZERS.values() for key in entry.hyperparameters)


def make_optimizer(name: str, params: FloatArray, learning_rate: float, **hyperparameters: Any) -> Optimizer:
    """Build the optimizer called `name` in OPTIMIZERS on the parameter vector `params`.

    `hyperparameters` may name any optimizer's (a caller passes its whole settings); each
    optimizer takes its own and ignores the others, and uses its defaults for those not given.
    """
    check_choice("optimizer", name, OPTIMIZERS)
    if unknown := sorted(set(hyperparameters) - HYPERPARAMETERS):
        raise ValueError(f"unknown hyperparameters {unknown}; optimizers take {sorted(HYPERPARAMETERS)}")
    entry = OPTIMIZERS[name]
    return entry.build(
        params, learning_rate, **{k: v for k, v in hyperparameters.items() if k in entry.hyperparameters}
    )
