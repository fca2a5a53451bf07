"""The tables stages write for each other, their columns named once, and where each run's files are.

train writes a history with one row per epoch (the records `mlp.fit` returns); evaluate writes
one prediction per test image; the report reads both. A stage that reads every run's file is
given a path pattern with {run} standing for the run's name, ARCH-SEED.
"""

from stages.common.runner import StageError

RUN = "{run}"  # the placeholder for ARCH-SEED in a path pattern

# The history columns the report draws; fit adds learning_rate and, with a validation set, val_*.
# train_loss and train_accuracy are running figures over each epoch's mini-batches (see mlp.fit);
# test_* (and val_*) are exact, on the whole set with the epoch's final weights.
HISTORY_COLUMNS = ("epoch", "loss", "train_loss", "test_loss", "train_accuracy", "test_accuracy")
# Per test image, in the prepared order: the true class, the predicted class and its probability.
PREDICTION_COLUMNS = ("actual", "predicted", "probability")
# The longest field these tables hold: a column name, or a float as Python writes it (at most 24
# characters, -1.2345678901234567e-308). A reader refuses longer ones (csv's own limit is 128 KiB).
MAX_FIELD_CHARS = 64


def run_pattern(option: str, pattern: str) -> str:
    """`pattern`, the value of --`option`, if it names each run's own file (it holds RUN)."""
    if RUN not in pattern:  # every run would read the same file: the report showed a false tie
        raise StageError(
            f"--{option} {pattern}: the path has no {RUN}, so every run would read this one file; "
            f"write {RUN} where the run's name (ARCH-SEED) goes, as dvc.yaml's command does"
        )
    return pattern
