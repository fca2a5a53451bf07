"""Evaluate stage: test metrics JSON, predictions CSV and classification report per model.

Usage (from dvc.yaml): python -m stages.evaluate ITEM PREPARED MODEL METRICS PREDICTIONS REPORT
(ITEM names the run in messages: ARCH-SEED, as in train@ARCH-SEED.)
Scores come from scikit-learn; every architecture's metrics file has the same keys. The
predictions CSV holds, per test image in the prepared order, the true class, the predicted
class and the model's probability of it: all the report needs to know about predictions.
Everything comes from one forward pass over the test set.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import classification_report, precision_recall_fscore_support

from mlp import MLP, ModelFileError, load_model
from mlp.arrays import FloatArray, IntArray
from mlp.losses import softmax
from mlp.train import scores as scores_of
from stages.common.mnist import N_CLASSES
from stages.common.output import write_csv, write_json, write_text
from stages.common.prepared import TEST, load_split
from stages.common.records import PREDICTION_COLUMNS
from stages.common.runner import StageError, rebuild_hint, run_stage
from stages.common.significance import wilson_interval


def score(
    model: MLP, X: FloatArray, y: IntArray
) -> tuple[dict[str, float], dict[str, Any], IntArray, FloatArray]:
    """The metrics people compare (DVC lists them), the per-class scores, the predicted labels
    and each prediction's probability, all from one forward pass."""
    logits = model.predict_logits(X)
    summary = scores_of(logits, y)
    predicted: IntArray = np.argmax(logits, axis=1)
    probability: FloatArray = softmax(logits)[np.arange(len(predicted)), predicted]
    labels = list(range(N_CLASSES))
    # The 95% Wilson interval: how far the accuracy on this many test images may be from the true one.
    low, high = wilson_interval(int(np.sum(predicted == y)), len(y))
    scores = {
        average: precision_recall_fscore_support(
            y, predicted, labels=labels, average=average, zero_division=0
        )
        for average in ("macro", "weighted")
    }
    # What experiments are compared on (dvc exp show lists every key of every run): macro F1, which
    # tracks accuracy closely on MNIST's balanced classes, stays with the per-class scores.
    metrics = {
        "accuracy": summary["accuracy"],
        "accuracy_low": low,
        "accuracy_high": high,
        "loss": summary["loss"],
    }
    precision, recall, f1, support = precision_recall_fscore_support(
        y, predicted, labels=labels, average=None, zero_division=0
    )
    classes: dict[str, Any] = {
        f"{average}_{name}": float(value)
        for average, values in scores.items()
        for name, value in zip(("precision", "recall", "f1"), values[:3], strict=True)
    }
    classes["per_class"] = {
        str(label): {
            "precision": float(precision[label]),
            "recall": float(recall[label]),
            "f1": float(f1[label]),
            "support": int(support[label]),
        }
        for label in labels
    }
    return metrics, classes, predicted, probability


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("item", help="the run's name, ARCH-SEED, as in evaluate@ARCH-SEED (for messages)")
    parser.add_argument("prepared", help="prepare's folder, e.g. data/prepared")
    parser.add_argument("model", help="the model file train wrote")
    parser.add_argument("metrics", help="output: the test metrics people compare (JSON, listed by DVC)")
    parser.add_argument("classes", help="output: per-class and averaged precision, recall and F1 (JSON)")
    parser.add_argument("predictions", help="output: one prediction per test image (CSV)")
    parser.add_argument("report", help="output: scikit-learn's classification report (text)")
    args = parser.parse_args(argv)

    try:
        model, _ = load_model(args.model)
    except ModelFileError as error:
        raise StageError(f"{error}; {rebuild_hint(f'train@{args.item}')}") from None
    X_test, y_test = load_split(args.prepared, TEST)
    if (model.n_features, model.n_classes) != (X_test.shape[1], N_CLASSES):
        raise StageError(
            f"{args.model} maps {model.n_features} inputs to {model.n_classes} classes, but MNIST's test set "
            f"has {X_test.shape[1]} features and {N_CLASSES} classes; {rebuild_hint(f'train@{args.item}')}"
        )
    metrics, classes, predicted, probability = score(model, X_test, y_test)
    write_json(args.metrics, metrics)
    write_json(args.classes, classes)
    # Nine significant digits give back the float32 probability exactly, so the report ranks
    # confident mistakes as the model did (six decimals would tie many near 1).
    shown = [f"{p:.9g}" for p in probability.tolist()]
    rows = zip(y_test.tolist(), predicted.tolist(), shown, strict=True)
    write_csv(
        args.predictions,
        PREDICTION_COLUMNS,
        (dict(zip(PREDICTION_COLUMNS, row, strict=True)) for row in rows),
    )
    labels = list(range(N_CLASSES))
    report = classification_report(y_test, predicted, labels=labels, digits=4, zero_division=0)
    write_text(args.report, f"Classification report: {args.item}\n\n{report}")
    print(
        f"evaluate@{args.item}: test accuracy {metrics['accuracy']:.4f}, "
        f"loss {metrics['loss']:.4f}, macro F1 {classes['macro_f1']:.4f}"
    )


if __name__ == "__main__":
    run_stage(main, "evaluate")
