"""The report's figures: which there are, with their captions, and how each is drawn.

One list serves both stages: the figures stage draws every PNG (the heavy part, which DVC's
run-cache reuses when its inputs were seen before); the report stage lists the same figures on
its pages without drawing them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from types import ModuleType

import numpy as np
import numpy.typing as npt

from mlp.arrays import FloatArray, IntArray
from stages.common.mnist import N_CLASSES
from stages.report.inputs import Architecture
from stages.report.markup import Image

GALLERY_SIZE = 10


@dataclass(frozen=True)
class Figures:
    """Where the PNGs go, how the pages link them, and whether to draw them or only list them."""

    folder: Path  # where the PNGs are written
    link: Path  # the same folder as the pages link it, relative to them
    draw: bool = True

    def add(self, listing: list[Image], name: str, caption: str, paint: Callable[[Path], None]) -> None:
        """List figure `name` for the page, and draw it with `paint(path)` when drawing."""
        listing.append(Image((self.link / f"{name}.png").as_posix(), caption))
        if self.draw:
            paint(self.folder / f"{name}.png")


def _charts() -> ModuleType:
    """stages.report.charts, imported when a figure is drawn: matplotlib takes most of a second to
    import, and the report stage only lists the figures."""
    return importlib.import_module("stages.report.charts")


def _galleries() -> ModuleType:
    return importlib.import_module("stages.report.galleries")


def most_confident_errors(
    true: IntArray, predicted: IntArray, confidence: FloatArray, count: int
) -> npt.NDArray[np.intp]:
    """Indices of up to `count` misclassified samples, most confident first (ties: lower index first)."""
    wrong = np.flatnonzero(predicted != true)
    return wrong[np.argsort(-confidence[wrong], kind="stable")[:count]]


def figures(
    folder: Figures,
    architectures: list[Architecture],
    X_train: FloatArray,
    y_train: IntArray,
    X_test: FloatArray,
    y_test: IntArray,
) -> list[Image]:
    """Every figure, drawn if `folder.draw`: the shared ones, returned, and each architecture's, in
    its `figures`."""
    shared: list[Image] = []
    folder.add(
        shared,
        "samples",
        "The first ten training images and their labels",
        lambda path: _galleries().plot_samples(X_train[:10], y_train[:10], path),
    )
    folder.add(
        shared,
        "comparison",
        "Test accuracy per architecture and seed, with 95% Wilson intervals; "
        "parameters and mean training time",
        lambda path: _charts().plot_comparison(
            [arch.name for arch in architectures],
            [
                [
                    (run.metrics["accuracy"], run.metrics["accuracy_low"], run.metrics["accuracy_high"])
                    for run in arch.runs
                ]
                for arch in architectures
            ],
            [arch.chosen.train["n_parameters"] for arch in architectures],
            [mean(run.seconds for run in arch.runs) for arch in architectures],
            path,
        ),
    )
    chosen = {arch.name: arch.chosen for arch in architectures}
    folder.add(
        shared,
        "test_accuracy_all",
        "Test accuracy per epoch, all architectures",
        lambda path: _charts().plot_test_accuracy_all(
            {name: (run.history["epoch"], run.history["test_accuracy"]) for name, run in chosen.items()}, path
        ),
    )
    folder.add(
        shared,
        "per_class_f1",
        "Per-class F1 on the test set, all architectures",
        lambda path: _charts().plot_per_class_f1(
            {
                name: [run.per_class[str(label)]["f1"] for label in range(N_CLASSES)]
                for name, run in chosen.items()
            },
            path,
        ),
    )
    for arch in architectures:
        _architecture_figures(folder, arch, X_test, y_test)
    return shared


def _architecture_figures(folder: Figures, arch: Architecture, X_test: FloatArray, y_test: IntArray) -> None:
    name, run, own = arch.name, arch.chosen, arch.figures
    history = run.history
    folder.add(
        own,
        f"curves_{name}",
        f"{name}: loss, and train and test accuracy, per epoch",
        lambda path: _charts().plot_curves(
            epochs=history["epoch"],
            loss=history["loss"],
            train_loss=history["train_loss"],
            test_loss=history["test_loss"],
            train_accuracy=history["train_accuracy"],
            test_accuracy=history["test_accuracy"],
            arch=name,
            path=path,
        ),
    )
    # Counts of (true, predicted) pairs: row = true class, column = predicted class.
    counts = np.bincount(y_test * N_CLASSES + run.predicted, minlength=N_CLASSES**2).reshape(
        N_CLASSES, N_CLASSES
    )
    folder.add(
        own,
        f"confusion_{name}",
        f"{name}: confusion matrix (counts)",
        lambda path: _charts().plot_confusion(counts, name, path),
    )
    folder.add(
        own,
        f"confusion_normalized_{name}",
        f"{name}: confusion matrix, rows normalised",
        lambda path: _charts().plot_confusion_normalized(counts, name, path),
    )
    shown = np.arange(min(GALLERY_SIZE, len(y_test)))  # the first test images: a fixed, unbiased choice
    folder.add(
        own,
        f"predictions_{name}",
        f"{name}: the first ten test images, true / predicted (red: wrong)",
        lambda path: _galleries().plot_predictions(
            X_test[shown], y_test[shown], run.predicted[shown], name, path
        ),
    )
    wrong = most_confident_errors(y_test, run.predicted, run.confidence, GALLERY_SIZE)
    folder.add(
        own,
        f"misclassified_{name}",
        f"{name}: the most confidently misclassified test images",
        lambda path: _galleries().plot_misclassified(
            X_test[wrong], y_test[wrong], run.predicted[wrong], run.confidence[wrong], name, path
        ),
    )
    folder.add(
        own,
        f"weights_{name}",
        f"{name}: first-layer weights",
        lambda path: _galleries().plot_weights(run.first_layer, name, path),
    )


def remove_stale(folder: Path, keep: set[str]) -> None:
    """Delete PNGs of architectures no longer in params.yaml (the folder is the figures stage's output)."""
    for path in sorted(folder.glob("*.png")):
        if path.name not in keep:
            path.unlink()
