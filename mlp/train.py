"""The training loop (`fit`) and the evaluation of a model on a labelled set (`evaluate`).

All randomness (shuffling, dropout, augmentation) comes from the Generator the caller passes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mlp.arrays import FloatArray, IntArray
from mlp.losses import softmax_cross_entropy
from mlp.model import MLP
from mlp.optimizers import Optimizer
from mlp.schedules import learning_rate_at
from mlp.validation import check_features, check_labels, check_positive

EvalSets = Mapping[str, tuple[npt.ArrayLike, npt.ArrayLike]]
Augment = Callable[[FloatArray, np.random.Generator], FloatArray]


class TrainingDivergedError(RuntimeError):
    """The loss or a weight stopped being finite; the model is unusable."""


@dataclass(frozen=True)
class FitResult:
    """What `fit` did: one record per epoch, and the epoch whose weights the model ends with."""

    history: list[dict[str, float]]
    kept_epoch: int  # 1-based: the best on `select_best`'s set, else the last

    @property
    def kept(self) -> dict[str, float]:
        """The history record of the kept epoch."""
        return self.history[self.kept_epoch - 1]


def evaluate(model: MLP, X: npt.ArrayLike, y: npt.ArrayLike) -> dict[str, float]:
    """Mean cross-entropy and accuracy of `model` on (X, y), without dropout.

    Parameters
    ----------
    X : (n_samples, n_features) array; y : (n_samples,) int labels.

    Returns
    -------
    {"loss": float, "accuracy": float}
    """
    X = check_features(X, model.n_features)
    y = check_labels(y, len(X), model.n_classes)
    logits = model.predict_logits(X)
    loss, _ = softmax_cross_entropy(logits, y)
    accuracy = float(np.mean(np.argmax(logits, axis=1) == y))
    return {"loss": loss, "accuracy": accuracy}


def fit(
    model: MLP,
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    optimizer: Optimizer,
    rng: np.random.Generator,
    epochs: int,
    batch_size: int,
    weight_decay: float = 0.0,
    schedule: str = "constant",
    step_size: int = 30,
    gamma: float = 0.1,
    eval_sets: EvalSets | None = None,
    augment: Augment | None = None,
    select_best: str | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> FitResult:
    """Train `model` in place with mini-batches; return the per-epoch history and the kept epoch.

    Each epoch shuffles the training set once with `rng`, runs the mini-batches, then
    evaluates the model on every set in `eval_sets` (e.g. {"train": (X, y), "test": ...}).

    Parameters
    ----------
    X : (n_samples, n_features) training inputs; y : (n_samples,) int labels.
    optimizer : built on model.parameters(); its learning rate is the schedule's base.
    rng : Generator for shuffling, dropout and `augment`.
    epochs, batch_size : positive ints; the last batch of an epoch may be smaller.
    weight_decay : L2 coefficient (the loss gains 0.5 * weight_decay * sum W^2).
    schedule, step_size, gamma : the learning-rate schedule (see schedules.py).
    augment : optional function (X_batch, rng) -> new X_batch applied to training batches.
    select_best : name of an evaluation set (a validation set, never the test set); when
        given, the model ends with the weights of the epoch of highest accuracy on it
        (the latest such epoch on ties).
    on_epoch : called with each epoch's record, e.g. to show progress.

    Returns
    -------
    FitResult: `history` holds one record per epoch: epoch (1-based), learning_rate, loss
    (mean training mini-batch loss), and `<set>_loss`, `<set>_accuracy` for each evaluation
    set; `kept_epoch` is the epoch whose weights the model holds at the end.

    Raises
    ------
    TrainingDivergedError as soon as a batch loss or, at the end of an epoch, a weight is
    not finite. The model is then unusable and must not be saved.
    """
    X = check_features(X, model.n_features).astype(model.dtype, copy=False)
    y = check_labels(y, len(X), model.n_classes)
    check_positive("epochs", epochs, integer=True)
    check_positive("batch_size", batch_size, integer=True)
    if batch_size > len(X):
        raise ValueError(f"batch_size {batch_size} is larger than the {len(X)} training samples")
    if weight_decay < 0 or not math.isfinite(weight_decay):
        raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
    checked_sets = _checked_eval_sets(model, eval_sets or {})
    if select_best is not None and select_best not in checked_sets:
        raise ValueError(
            f"select_best names {select_best!r}, which is not among eval_sets {sorted(checked_sets)}"
        )
    base_learning_rate = optimizer.learning_rate
    history: list[dict[str, float]] = []
    best_parameters = None
    try:
        for epoch in range(epochs):
            optimizer.learning_rate = learning_rate_at(
                schedule, base_learning_rate, epoch, epochs, step_size, gamma
            )
            # Overflow warnings are noise here: a non-finite loss or weight raises just below.
            with np.errstate(over="ignore", invalid="ignore"):
                loss = _train_one_epoch(model, X, y, optimizer, rng, batch_size, weight_decay, augment, epoch)
            if not np.isfinite(model.parameters()).all():
                raise _diverged(f"a weight is not finite after epoch {epoch + 1}", optimizer.learning_rate)
            record = {"epoch": epoch + 1, "learning_rate": optimizer.learning_rate, "loss": loss}
            for name, (X_eval, y_eval) in checked_sets.items():
                scores = evaluate(model, X_eval, y_eval)
                record[f"{name}_loss"], record[f"{name}_accuracy"] = scores["loss"], scores["accuracy"]
            history.append(record)
            if select_best is not None and best_epoch(history, select_best) == epoch + 1:
                best_parameters = model.parameters().copy()
            if on_epoch is not None:
                on_epoch(record)
    finally:  # a later fit() with this optimizer starts from the same base rate
        optimizer.learning_rate = base_learning_rate
    kept_epoch = len(history) if select_best is None else best_epoch(history, select_best)
    if best_parameters is not None:
        model.parameters()[...] = best_parameters
    return FitResult(history, kept_epoch)


def best_epoch(history: list[dict[str, float]], set_name: str) -> int:
    """The epoch (1-based) of highest `<set_name>_accuracy` in a fit() history.

    Ties go to the later epoch: with a decaying schedule its weights are the more settled.
    """
    accuracies = [record[f"{set_name}_accuracy"] for record in history]
    return len(accuracies) - accuracies[::-1].index(max(accuracies))


def _checked_eval_sets(model: MLP, eval_sets: EvalSets) -> dict[str, tuple[FloatArray, IntArray]]:
    """Validate each evaluation set once, cast to the model's dtype."""
    return {
        name: (
            check_features(X_eval, model.n_features, f"{name} X").astype(model.dtype, copy=False),
            check_labels(y_eval, np.shape(X_eval)[0], model.n_classes, f"{name} y"),
        )
        for name, (X_eval, y_eval) in eval_sets.items()
    }


def _train_one_epoch(
    model: MLP,
    X: FloatArray,
    y: IntArray,
    optimizer: Optimizer,
    rng: np.random.Generator,
    batch_size: int,
    weight_decay: float,
    augment: Augment | None,
    epoch: int,
) -> float:
    """One pass over (X, y) in a random order; returns the sample-weighted mean batch loss."""
    order = rng.permutation(len(X))
    total_loss = 0.0
    for step, start in enumerate(range(0, len(X), batch_size)):
        # Gathering each batch (not a shuffled copy of the whole set) keeps memory flat.
        batch = order[start : start + batch_size]
        X_batch, y_batch = X[batch], y[batch]
        if augment is not None:
            X_batch = augment(X_batch, rng)
        loss = model.loss_and_gradients(X_batch, y_batch, weight_decay, training=True, rng=rng)
        if not math.isfinite(loss):
            # A weight that overflowed in the previous update shows up here, one step later.
            raise _diverged(
                f"the loss is {loss} at epoch {epoch + 1}, step {step + 1}", optimizer.learning_rate
            )
        optimizer.step(model.gradients())
        total_loss += loss * len(y_batch)
    return total_loss / len(X)


def _diverged(what: str, learning_rate: float) -> TrainingDivergedError:
    return TrainingDivergedError(
        f"training diverged: {what} (learning rate {learning_rate:g}); "
        f"lower the learning rate, e.g. to {learning_rate / 10:g}"
    )
