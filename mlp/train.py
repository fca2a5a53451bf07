"""The training loop (`fit`) and the evaluation of a model on a labelled set (`evaluate`).

All randomness (shuffling, dropout, augmentation) comes from the Generator the caller passes.
When a run diverges is decided in divergence.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mlp.arrays import FloatArray, IntArray
from mlp.divergence import DivergenceWatch
from mlp.losses import softmax_cross_entropy
from mlp.model import MLP, overflow_message
from mlp.optimizers import Optimizer
from mlp.schedules import SCHEDULES, learning_rate_at
from mlp.validation import (
    check_choice,
    check_features,
    check_generator,
    check_labels,
    check_not_empty,
    check_number,
    check_positive,
)
from mlp.workspace import Workspace

EvalSets = Mapping[str, tuple[npt.ArrayLike, npt.ArrayLike]]
TRAIN = "train"  # the history's train_* figures are fit's own, so no evaluation set has this name
Augment = Callable[[FloatArray, np.random.Generator], FloatArray]


@dataclass(frozen=True)
class FitResult:
    """What `fit` did: one record per epoch, and the epoch whose weights the model ends with."""

    history: list[dict[str, float]]
    kept_epoch: int  # 1-based: the best on `select_best`'s set, else the last

    @property
    def kept(self) -> dict[str, float]:
        """The history record of the kept epoch."""
        return self.history[self.kept_epoch - 1]


def evaluate(model: MLP, X: npt.ArrayLike, y: npt.ArrayLike, *, set_name: str = "") -> dict[str, float]:
    """Mean cross-entropy and accuracy of `model` on (X, y), without dropout.

    Parameters
    ----------
    X : (n_samples >= 1, n_features) array; y : (n_samples,) int labels.
    set_name : what the set is called (e.g. "test"), to name it in error messages.

    Returns
    -------
    {"loss": float, "accuracy": float}

    Raises
    ------
    ValueError for an empty set (its mean loss is undefined), for values beyond the model's
    dtype, and for inputs so large that the logits or the loss overflow.
    """
    name = f"{set_name} X" if set_name else "X"
    X = check_features(X, model.n_features, name, dtype=model.dtype)
    check_not_empty(name, len(X), "evaluation")
    y = check_labels(y, len(X), model.n_classes, f"{set_name} y" if set_name else "y")
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow raises just below
        scores = _scores(model, X, y)
    if not math.isfinite(scores["loss"]):
        raise ValueError(overflow_message(name, X))
    return scores


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
    evaluates the model on every set in `eval_sets` (e.g. {"val": (X, y), "test": ...}).
    The training set's figures come from the mini-batches themselves, at no extra cost.

    Parameters
    ----------
    X : (n_samples >= 1, n_features) training inputs; y : (n_samples,) int labels.
    optimizer : built on model.parameters(); its learning rate is the schedule's base.
    rng : Generator for shuffling, dropout and `augment`.
    epochs, batch_size : positive ints; the last batch of an epoch may be smaller.
    weight_decay : L2 coefficient (the loss gains 0.5 * weight_decay * sum W^2).
    schedule, step_size, gamma : the learning-rate schedule (see schedules.py).
    augment : optional function (X_batch, rng) -> new X_batch of the same shape and dtype,
        applied to training batches.
    select_best : name of an evaluation set (a validation set, never the test set); when
        given, the model ends with the weights of the epoch of highest accuracy on it
        (the latest such epoch on ties).
    on_epoch : called with each epoch's record, e.g. to show progress.

    Returns
    -------
    FitResult: `history` holds one record per epoch; `kept_epoch` is the epoch whose weights
    the model holds at the end. A record holds:
    - epoch (1-based) and learning_rate;
    - train_loss and train_accuracy: running figures over the epoch's mini-batches, as most
      libraries report them: the sample-weighted mean of the batch losses, and the fraction of
      training samples whose true class scored highest (a tie counts as right), each taken
      when its batch was trained on: before that step's update, with dropout and `augment`
      applied. Not a pass over the training set with the epoch's final weights (that cost a
      quarter of a default training); they trail such figures by about half an epoch;
    - loss: the training objective, train_loss plus the L2 penalty of the epoch's final
      weights (equal to train_loss without weight decay);
    - `<set>_loss`, `<set>_accuracy` for each evaluation set: exact, on the whole set with the
      epoch's final weights and no dropout (`select_best` uses them).

    Raises
    ------
    ValueError, before training, for invalid arguments (the model is left untouched), and
    for an `augment` that returns an array of another shape or dtype.
    TrainingDivergedError as soon as a loss or weight is not finite or the loss has exploded
    (see divergence.py); its message names the setting to change. The model is then
    unusable and must not be saved.
    """
    if getattr(optimizer, "params", model.parameters()) is not model.parameters():  # it would train nothing
        raise ValueError(
            "the optimizer was built on other parameters than the model's; build it on model.parameters()"
        )
    X, y, checked_sets = _checked_arguments(model, X, y, eval_sets, rng, augment, on_epoch, select_best)
    check_positive("epochs", epochs, integer=True)
    check_positive("batch_size", batch_size, integer=True)
    if batch_size > len(X):
        raise ValueError(f"batch_size {batch_size} is larger than the {len(X)} training samples")
    if not (math.isfinite(check_number("weight_decay", weight_decay)) and weight_decay >= 0):
        raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
    check_choice("schedule", schedule, SCHEDULES)
    check_positive("step_size", step_size, integer=True)
    check_positive("gamma", gamma)
    base_learning_rate = optimizer.learning_rate
    watch = DivergenceWatch(
        X, model.n_classes, weight_decay, model.squared_weight_norm() if weight_decay else 0.0
    )
    buffers = _EpochBuffers(model, X, y, batch_size)
    penalty = model.penalty(weight_decay)  # of the weights at the start of the coming epoch
    history: list[dict[str, float]] = []
    best_parameters = None
    try:
        for epoch in range(epochs):
            optimizer.learning_rate = learning_rate_at(
                schedule, base_learning_rate, epoch, epochs, step_size, gamma
            )
            # Overflow warnings are noise here: a non-finite loss or weight raises just below.
            with np.errstate(over="ignore", invalid="ignore"):
                train_loss, train_accuracy = _train_one_epoch(
                    model,
                    X,
                    buffers,
                    optimizer,
                    rng,
                    batch_size,
                    weight_decay,
                    penalty,
                    augment,
                    epoch,
                    watch,
                )
                penalty = model.penalty(weight_decay)
            loss = train_loss + penalty
            watch.check_epoch(loss, epoch, optimizer.learning_rate)
            if not np.isfinite(model.parameters()).all():
                raise watch.error(f"a weight is not finite after epoch {epoch + 1}", optimizer.learning_rate)
            record = {
                "epoch": epoch + 1,
                "learning_rate": optimizer.learning_rate,
                "loss": loss,
                "train_loss": train_loss,
                "train_accuracy": train_accuracy,
            }
            for name, (X_eval, y_eval) in checked_sets.items():
                with np.errstate(over="ignore", invalid="ignore"):
                    scores = _scores(model, X_eval, y_eval)
                if not math.isfinite(scores["loss"]):
                    what = f"the {name} loss is {scores['loss']} after epoch {epoch + 1}"
                    raise watch.error(what, optimizer.learning_rate)
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


def _checked_arguments(
    model: MLP,
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    eval_sets: EvalSets | None,
    rng: np.random.Generator,
    augment: Augment | None,
    on_epoch: Callable[[dict[str, float]], None] | None,
    select_best: str | None,
) -> tuple[FloatArray, IntArray, dict[str, tuple[FloatArray, IntArray]]]:
    """fit's data arguments checked (and cast to the model's dtype), and the other objects it takes."""
    X = check_features(X, model.n_features, dtype=model.dtype)
    check_not_empty("X", len(X), "training")
    y = check_labels(y, len(X), model.n_classes)
    check_generator(rng)
    for name, function, signature in (
        ("augment", augment, "(X_batch, rng) -> X_batch"),
        ("on_epoch", on_epoch, "(record)"),
    ):
        if function is not None and not callable(function):
            raise ValueError(f"{name} must be a function {signature} or None, got {function!r}")
    checked_sets = _checked_eval_sets(model, eval_sets or {})
    if TRAIN in checked_sets:
        raise ValueError(
            f"eval_sets has a set named {TRAIN!r}, but fit reports train_loss and train_accuracy itself "
            "(from the mini-batches); give the set another name to evaluate it every epoch"
        )
    if select_best is not None and select_best not in checked_sets:
        raise ValueError(
            f"select_best names {select_best!r}, which is not among eval_sets {sorted(checked_sets)}"
        )
    return X, y, checked_sets


def _checked_eval_sets(model: MLP, eval_sets: EvalSets) -> dict[str, tuple[FloatArray, IntArray]]:
    """Validate each evaluation set once (non-empty, cast to the model's dtype)."""
    checked: dict[str, tuple[FloatArray, IntArray]] = {}
    for name, (X_eval, y_eval) in eval_sets.items():
        X_checked = check_features(X_eval, model.n_features, f"{name} X", dtype=model.dtype)
        check_not_empty(f"eval set {name!r}", len(X_checked), "evaluation")
        checked[name] = (X_checked, check_labels(y_eval, len(X_checked), model.n_classes, f"{name} y"))
    return checked


def scores(logits: FloatArray, y: IntArray) -> dict[str, float]:
    """evaluate()'s figures from logits (n_samples >= 1, n_classes) and checked labels y, for a
    caller that needs the logits as well (the evaluate stage: one forward pass for everything)."""
    loss, _ = softmax_cross_entropy(logits, y, checked=True)
    accuracy = float(np.mean(np.argmax(logits, axis=1) == y))
    return {"loss": loss, "accuracy": accuracy}


def _scores(model: MLP, X: FloatArray, y: IntArray) -> dict[str, float]:
    """evaluate() on checked, non-empty (X, y); the loss is not finite if the logits overflow."""
    return scores(model._chunked_logits(X), y)  # X is checked already: skip predict_logits' checks


class _EpochBuffers:
    """What every epoch of one fit reuses, allocated once: one workspace and input array per
    batch shape (the batch size, and a smaller last batch if any), and per-sample arrays."""

    def __init__(self, model: MLP, X: FloatArray, y: IntArray, batch_size: int) -> None:
        shapes = {batch_size, len(X) % batch_size} - {0}
        self.workspaces = {
            rows: Workspace(model.layer_sizes, rows, model.dtype, dropout=model.dropout > 0)
            for rows in shapes
        }
        self.inputs = {rows: np.empty((rows, X.shape[1]), X.dtype) for rows in shapes}
        self.y = y.astype(np.intp, copy=False)
        # Where a sample's logit row starts in its batch's raveled logits, for losses.true_index.
        self.row_starts = np.arange(len(X)) % batch_size * model.n_classes
        self.true_index = np.empty(len(X), np.intp)
        self.true_gap = np.empty(len(X), model.dtype)  # 0 where the true class scored highest


def _train_one_epoch(
    model: MLP,
    X: FloatArray,
    buffers: _EpochBuffers,
    optimizer: Optimizer,
    rng: np.random.Generator,
    batch_size: int,
    weight_decay: float,
    penalty: float,
    augment: Augment | None,
    epoch: int,
    watch: DivergenceWatch,
) -> tuple[float, float]:
    """One pass over X in a random order; returns the sample-weighted mean batch loss (without the
    L2 penalty) and the fraction of samples their batch's forward pass classified right.

    `penalty` is the L2 penalty at the epoch's start, which the divergence checks add to each loss.
    """
    order = rng.permutation(len(X))
    true_index = np.take(buffers.y, order, out=buffers.true_index, mode="clip")
    true_index += buffers.row_starts
    true_gap = buffers.true_gap
    total_loss = 0.0
    for step, start in enumerate(range(0, len(X), batch_size)):
        stop = start + batch_size
        # Gathering each batch (not a shuffled copy of the whole set) keeps memory flat.
        batch = order[start:stop]
        rows = len(batch)
        X_batch = X.take(batch, axis=0, out=buffers.inputs[rows], mode="clip")
        if augment is not None:
            X_batch = _augmented(augment, X_batch, rng)
        loss = model.train_step(
            X_batch, true_index[start:stop], buffers.workspaces[rows], True, rng, true_gap[start:stop]
        )
        if weight_decay:
            model.add_weight_decay(weight_decay)
        total_loss += loss * rows
        # A weight that overflowed in the previous update shows up here, one step later.
        watch.check_step(
            loss + penalty, total_loss + penalty * (start + rows), epoch, step, optimizer.learning_rate
        )
        optimizer.step(model.gradients())
    return total_loss / len(X), np.count_nonzero(true_gap == 0) / len(X)


def _augmented(augment: Augment, X_batch: FloatArray, rng: np.random.Generator) -> FloatArray:
    """augment(X_batch, rng), checked to be an array of the batch's shape and dtype."""
    augmented = augment(X_batch, rng)
    if (
        not isinstance(augmented, np.ndarray)
        or augmented.shape != X_batch.shape
        or augmented.dtype != X_batch.dtype
    ):
        got = (
            f"{augmented.dtype} of shape {augmented.shape}"
            if isinstance(augmented, np.ndarray)
            else type(augmented).__name__
        )
        raise ValueError(
            f"augment must return an array of the batch's shape {X_batch.shape} and dtype {X_batch.dtype}, "
            f"got {got}; fix the augment function"
        )
    return augmented
