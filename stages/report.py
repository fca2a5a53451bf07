"""Report stage: figures (PNG) and one page (README.md, index.html) from what earlier stages wrote.

Usage (from dvc.yaml): python -m stages.report OUTPUT   (e.g. reports)
Inputs are found by convention from the architecture names in params.yaml (every path
pattern is in stages.report_inputs); figures come from stages.figures and stages.galleries,
the page's content from stages.report_page.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sklearn.metrics import confusion_matrix

from mlp.arrays import FloatArray, IntArray
from stages import figures, galleries
from stages.common import run_stage, write_text
from stages.data import N_CLASSES, load_split
from stages.params import load_params
from stages.report_inputs import (
    PREPARED,
    ArchitectureResult,
    check_inputs,
    load_architecture,
)
from stages.report_markup import Image, to_html, to_markdown
from stages.report_page import TITLE, page_blocks

FIGURES = "figures"  # the PNG folder inside the output folder, and the pages' relative image path
GALLERY_SIZE = 10


def most_confident_errors(
    true: IntArray, predicted: IntArray, confidence: FloatArray, count: int
) -> npt.NDArray[np.intp]:
    """Indices of up to `count` misclassified samples, most confident first (ties: lower index first)."""
    wrong = np.flatnonzero(predicted != true)
    return wrong[np.argsort(-confidence[wrong], kind="stable")[:count]]


def _target(folder: Path, listing: list[Image], name: str, caption: str) -> Path:
    """Record figure `name` for the page and return the path to write it to."""
    listing.append(Image(f"{FIGURES}/{name}.png", caption))
    return folder / FIGURES / f"{name}.png"


def draw_figures(
    folder: Path,
    results: list[ArchitectureResult],
    X_train: FloatArray,
    y_train: IntArray,
    X_test: FloatArray,
    y_test: IntArray,
) -> list[Image]:
    """Write every PNG under folder/figures; return the shared ones and fill each result's `figures`."""
    shared: list[Image] = []
    galleries.plot_samples(
        X_train[:10],
        y_train[:10],
        _target(folder, shared, "samples", "The first ten training images and their labels"),
    )
    figures.plot_comparison(
        [result.name for result in results],
        [result.metrics["accuracy"] for result in results],
        [result.train["n_parameters"] for result in results],
        [result.seconds for result in results],
        _target(
            folder, shared, "comparison", "Test accuracy per architecture, with parameters and training time"
        ),
    )
    figures.plot_test_accuracy_all(
        {result.name: (result.history["epoch"], result.history["test_accuracy"]) for result in results},
        _target(folder, shared, "test_accuracy_all", "Test accuracy per epoch, all architectures"),
    )
    figures.plot_per_class_f1(
        {
            result.name: [result.metrics["per_class"][str(label)]["f1"] for label in range(N_CLASSES)]
            for result in results
        },
        _target(folder, shared, "per_class_f1", "Per-class F1 on the test set, all architectures"),
    )
    for result in results:
        _draw_architecture(folder, result, X_test, y_test)
    return shared


def _draw_architecture(
    folder: Path, result: ArchitectureResult, X_test: FloatArray, y_test: IntArray
) -> None:
    name, history, own = result.name, result.history, result.figures
    figures.plot_curves(
        epochs=history["epoch"],
        loss=history["loss"],
        train_loss=history["train_loss"],
        test_loss=history["test_loss"],
        train_accuracy=history["train_accuracy"],
        test_accuracy=history["test_accuracy"],
        arch=name,
        path=_target(folder, own, f"curves_{name}", f"{name}: loss, and train and test accuracy, per epoch"),
    )
    counts = confusion_matrix(y_test, result.predicted, labels=list(range(N_CLASSES)))
    figures.plot_confusion(
        counts, name, _target(folder, own, f"confusion_{name}", f"{name}: confusion matrix (counts)")
    )
    figures.plot_confusion_normalized(
        counts,
        name,
        _target(folder, own, f"confusion_normalized_{name}", f"{name}: confusion matrix, rows normalised"),
    )
    shown = np.arange(min(GALLERY_SIZE, len(y_test)))  # the first test images: a fixed, unbiased choice
    galleries.plot_predictions(
        X_test[shown],
        y_test[shown],
        result.predicted[shown],
        name,
        _target(
            folder,
            own,
            f"predictions_{name}",
            f"{name}: the first ten test images, true / predicted (red: wrong)",
        ),
    )
    wrong = most_confident_errors(y_test, result.predicted, result.confidence, GALLERY_SIZE)
    galleries.plot_misclassified(
        X_test[wrong],
        y_test[wrong],
        result.predicted[wrong],
        result.confidence[wrong],
        name,
        _target(
            folder, own, f"misclassified_{name}", f"{name}: the most confidently misclassified test images"
        ),
    )
    galleries.plot_weights(
        result.first_layer, name, _target(folder, own, f"weights_{name}", f"{name}: first-layer weights")
    )


def _remove_stale(folder: Path, keep: set[str]) -> None:
    """Delete PNGs of architectures no longer in params.yaml (the folder is this stage's output)."""
    for path in sorted(folder.glob("*.png")):
        if path.name not in keep:
            path.unlink()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("output", help="folder for README.md, index.html and figures/, e.g. reports")
    output = Path(parser.parse_args(argv).output)

    params = load_params()
    check_inputs(list(params["architectures"]))
    X_train, y_train = load_split(PREPARED, "train")
    X_test, y_test = load_split(PREPARED, "test")
    results = [
        load_architecture(name, entry, X_test, y_test) for name, entry in params["architectures"].items()
    ]

    shared = draw_figures(output, results, X_train, y_train, X_test, y_test)
    written = shared + [image for result in results for image in result.figures]
    _remove_stale(output / FIGURES, {Path(image.src).name for image in written})
    blocks = page_blocks(params, results, shared, n_train=len(y_train))
    write_text(output / "README.md", to_markdown(blocks))
    write_text(output / "index.html", to_html(TITLE, blocks))
    best = max(results, key=lambda result: result.metrics["accuracy"])
    print(
        f"report: {len(results)} architecture(s), {len(written)} figures in {output / FIGURES}, "
        f"pages {output / 'README.md'} and {output / 'index.html'}; best test accuracy {best.name} "
        f"{best.metrics['accuracy']:.4f}"
    )


if __name__ == "__main__":
    run_stage(main, "report")
