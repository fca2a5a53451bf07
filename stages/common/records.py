"""The tables stages write for each other: their columns, named once.

train writes a history with one row per epoch (the records `mlp.fit` returns); evaluate writes
one prediction per test image; the report reads both.
"""

# The history columns the report draws; fit adds learning_rate and, with a validation set, val_*.
# train_loss and train_accuracy are running figures over each epoch's mini-batches (see mlp.fit);
# test_* (and val_*) are exact, on the whole set with the epoch's final weights.
HISTORY_COLUMNS = ("epoch", "loss", "train_loss", "test_loss", "train_accuracy", "test_accuracy")
# Per test image, in the prepared order: the true class, the predicted class and its probability.
PREDICTION_COLUMNS = ("actual", "predicted", "probability")
