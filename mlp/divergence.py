"""When `fit` stops a run whose loss has exploded, and which setting its error blames.

A run has diverged when a loss or weight is not finite, or when an epoch's mean training
loss is over EPOCH_FACTOR times the starting loss: the larger of the first mini-batch's loss,
taken before any update (so it includes the weight-decay penalty and the effect of how the
inputs are scaled), and log(n_classes), the loss of a uniform guess. Losses are never
negative, so the rule is applied after every step to the epoch's running sum: as soon as it
alone puts the epoch's mean over the limit, fit stops, without finishing the epoch and
without ever stopping a run the end-of-epoch check would let through. A single noisy
mini-batch cannot trigger it, however small the batch.

On the scikit-learn digits and on MNIST, healthy runs of every recipe we use (SGD,
momentum, Nesterov with a cosine schedule, Adam, dropout, shifts, weight decay, batches of
one) never had an epoch above 0.9 times the starting loss. A learning rate of 100 is
stopped at its second or third step; left to run, its later epochs sit at about 17 times it.

The error names the likely cause, in this order:
- weight_decay, when its L2 penalty outweighed the data loss before the first update;
- the inputs, when the data loss before the first update was already over INPUT_FACTOR times
  a uniform guess's, or not finite (no update had happened, so no learning rate is to blame);
- otherwise the learning rate (noting it when learning_rate * weight_decay >= 1, which makes
  each decay step overshoot zero).
"""

from __future__ import annotations

import math

from mlp.arrays import FloatArray
from mlp.validation import largest_magnitude

EPOCH_FACTOR = 10.0
INPUT_FACTOR = 10.0  # standardized MNIST starts at 2x a uniform guess, raw pixels at 87x


class TrainingDivergedError(RuntimeError):
    """The loss or a weight stopped being finite, or the loss exploded; the model is unusable."""


class DivergenceWatch:
    """Checks one fit() run's losses against its starting loss, and builds the error when one fails.

    Parameters
    ----------
    X : the training inputs: their row count scales the running-sum limit; messages quote them.
    n_classes, weight_decay : the model's output count and fit's L2 coefficient.
    squared_weight_norm : the model's sum(W**2) before training (used when weight_decay > 0).
    """

    def __init__(
        self, X: FloatArray, n_classes: int, weight_decay: float, squared_weight_norm: float
    ) -> None:
        self.X = X
        self.uniform_loss = math.log(max(n_classes, 2))
        self.weight_decay = weight_decay
        self.squared_weight_norm = squared_weight_norm
        self.initial_penalty = 0.5 * weight_decay * squared_weight_norm if weight_decay else 0.0
        self.first_loss: float | None = None
        self.total_limit = math.inf  # of an epoch's summed loss; set by the first step

    @property
    def starting_loss(self) -> float:
        """max(first mini-batch loss, log(n_classes)); log(n_classes) before the first step."""
        return max(self.first_loss or 0.0, self.uniform_loss)

    def check_step(
        self, loss: float, epoch_total: float, epoch: int, step: int, learning_rate: float
    ) -> None:
        """Raise if a mini-batch loss is not finite, or if the epoch's running sum of
        sample-weighted losses already puts its mean over the limit (epoch, step 0-based)."""
        if not loss < math.inf:  # also true for NaN
            before = ", before any update" if self.first_loss is None else ""
            raise self.error(
                f"the loss is {loss} at epoch {epoch + 1}, step {step + 1}{before}", learning_rate
            )
        if self.first_loss is None:
            self.first_loss = loss
            self.total_limit = EPOCH_FACTOR * self.starting_loss * len(self.X)
        if epoch_total > self.total_limit:
            raise self.error(
                f"the loss reached {loss:.3g} at epoch {epoch + 1}, step {step + 1}, which already puts "
                f"the epoch's mean over {EPOCH_FACTOR:g} times the starting loss {self.starting_loss:.3g}",
                learning_rate,
            )

    def check_epoch(self, loss: float, epoch: int, learning_rate: float) -> None:
        """Raise if an epoch's mean training loss (epoch 0-based) has exploded."""
        if not loss <= EPOCH_FACTOR * self.starting_loss:
            raise self.error(
                f"the mean training loss {loss:.3g} of epoch {epoch + 1} is over "
                f"{EPOCH_FACTOR:g} times the starting loss {self.starting_loss:.3g}",
                learning_rate,
            )

    def error(self, what: str, learning_rate: float) -> TrainingDivergedError:
        """The error for `what` went wrong, blaming weight_decay, the inputs or the learning rate."""
        return TrainingDivergedError(f"training diverged: {what} {self._cause(learning_rate)}")

    def _cause(self, learning_rate: float) -> str:
        """The likely culprit and its fix, as the end of the error message."""
        first, penalty, wd = self.first_loss, self.initial_penalty, self.weight_decay
        data_loss = None if first is None or not math.isfinite(first - penalty) else first - penalty
        if wd > 0 and not penalty <= (self.uniform_loss if data_loss is None else data_loss):
            against = "" if data_loss is None else f", against a data loss of {data_loss:.3g}"
            return (
                f"(weight_decay {wd:g}: its L2 penalty was {penalty:.3g} before the first update{against}); "
                f"lower weight_decay, e.g. to {self._smaller_weight_decay(learning_rate):g}"
            )
        if data_loss is None or data_loss > INPUT_FACTOR * self.uniform_loss:
            before = "not finite" if data_loss is None else f"already {data_loss:.3g}"
            return (
                f"(the loss was {before} before the first update, and the largest |value| in X is "
                f"{largest_magnitude(self.X):.3g}); X is too large for the model: "
                "scale the inputs, e.g. to [0, 1]"
            )
        decay_step = learning_rate * wd
        if decay_step >= 1:
            return (
                f"(learning rate {learning_rate:g}; learning_rate * weight_decay is {decay_step:g}, so each "
                "weight-decay step overshoots zero); lower the learning rate, e.g. to "
                f"{min(learning_rate / 10, 0.1 / wd):g}, or weight_decay"
            )
        return f"(learning rate {learning_rate:g}); lower the learning rate, e.g. to {learning_rate / 10:g}"

    def _smaller_weight_decay(self, learning_rate: float) -> float:
        """A power of ten below weight_decay whose penalty starts at most a tenth of a uniform
        guess's loss, and whose decay step learning_rate * weight_decay is at most 0.1."""
        candidates = [self.weight_decay / 10, 0.1 / learning_rate]
        if 0 < self.squared_weight_norm < math.inf:
            candidates.append(0.1 * self.uniform_loss / (0.5 * self.squared_weight_norm))
        smallest = min(value for value in candidates if value > 0)
        return float(10 ** math.floor(math.log10(smallest)))
