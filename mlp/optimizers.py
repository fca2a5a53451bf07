"""Optimizers: SGD (plain, momentum, Nesterov) and Adam.

An optimizer is built from the model's parameter list and keeps its own state. `step(grads)`
updates the parameters in place, the gradients being a list in the same order. The learning
rate is an attribute that the training loop sets from the schedule before each epoch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlp.arrays import FloatArray
from mlp.validation import check_choice, check_fraction, check_positive


class SGD:
    """Stochastic gradient descent, with optional (Nesterov) momentum.

    With momentum mu the velocity is v <- mu v + g and the update p <- p - lr v (PyTorch's
    convention); Nesterov uses p <- p - lr (g + mu v). mu = 0 is the plain p <- p - lr g.
    """

    def __init__(
        self,
        params: Sequence[FloatArray],
        learning_rate: float,
        momentum: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        check_positive("learning_rate", learning_rate)
        check_fraction("momentum", momentum)
        if nesterov and momentum == 0:
            raise ValueError("nesterov needs a momentum above 0, e.g. momentum: 0.9")
        self.params = list(params)
        self.learning_rate = float(learning_rate)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.velocities = [np.zeros_like(p) for p in self.params] if momentum else []
        self._scratch = [np.empty_like(p) for p in self.params]

    def step(self, grads: Sequence[FloatArray]) -> None:
        """Apply one update to every parameter, in place."""
        for i, (p, g) in enumerate(zip(self.params, grads, strict=True)):
            lr = p.dtype.type(self.learning_rate)
            update = self._scratch[i]
            if not self.momentum:
                np.multiply(g, lr, out=update)
            else:
                mu = p.dtype.type(self.momentum)
                v = self.velocities[i]
                v *= mu
                v += g
                if self.nesterov:
                    np.multiply(v, mu, out=update)
                    update += g
                    update *= lr
                else:
                    np.multiply(v, lr, out=update)
            p -= update


class Adam:
    """Adam (Kingma & Ba 2015) with bias-corrected first and second moments.

    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;  t <- t + 1
    p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
    """

    def __init__(
        self,
        params: Sequence[FloatArray],
        learning_rate: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
    ) -> None:
        check_positive("learning_rate", learning_rate)
        check_fraction("beta1", beta1)
        check_fraction("beta2", beta2)
        check_positive("epsilon", epsilon)
        self.params = list(params)
        self.learning_rate = float(learning_rate)
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)
        self.t = 0
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self._scratch = [np.empty_like(p) for p in self.params]

    def step(self, grads: Sequence[FloatArray]) -> None:
        """Apply one update to every parameter, in place."""
        self.t += 1
        correction1 = 1 - self.beta1**self.t
        correction2 = 1 - self.beta2**self.t
        for p, g, m, v, scratch in zip(self.params, grads, self.m, self.v, self._scratch, strict=True):
            dtype = p.dtype.type
            m *= dtype(self.beta1)
            m += dtype(1 - self.beta1) * g
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


OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam")


def make_optimizer(
    name: str,
    params: Sequence[FloatArray],
    learning_rate: float,
    momentum: float = 0.9,
    beta1: float = 0.9,
    beta2: float = 0.999,
) -> SGD | Adam:
    """Build an optimizer by name: "sgd" (plain), "momentum", "nesterov" or "adam".

    `momentum` is used by "momentum" and "nesterov" only; beta1 and beta2 by "adam" only.
    """
    check_choice("optimizer", name, OPTIMIZERS)
    if name == "adam":
        return Adam(params, learning_rate, beta1=beta1, beta2=beta2)
    if name == "sgd":
        return SGD(params, learning_rate)
    return SGD(params, learning_rate, momentum=momentum, nesterov=name == "nesterov")
