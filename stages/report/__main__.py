"""Report stage: figures (PNG) and one page (README.md, index.html) from what earlier stages wrote.

Usage (from dvc.yaml): python -m stages.report --prepared DIR --models PATTERN ... --figures DIR
--markdown FILE --html FILE. Every input and output path comes from the command line (see
stages.report.inputs); the runs are params.yaml's architectures times its seeds. Figures come
from .charts and .galleries, the comparison from .comparison, the page from .page.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

import numpy as np
import numpy.typing as npt

from mlp.arrays import FloatArray, IntArray
from stages.common.mnist import N_CLASSES
from stages.common.output import write_csv, write_json, write_text
from stages.common.params import architecture_settings, load_params
from stages.common.prepared import TEST, TRAIN, check_made_with, load_split
from stages.common.records import HISTORY_COLUMNS
from stages.common.runner import StageError, run_stage
from stages.report import charts, galleries
from stages.report.comparison import Comparison
from stages.report.inputs import KINDS, RUN, Architecture, check_present, load_architecture
from stages.report.markup import Image, to_html, to_markdown
from stages.report.page import TITLE, page_blocks
from stages.report.provenance import provenance

GALLERY_SIZE = 10


def most_confident_errors(
    true: IntArray, predicted: IntArray, confidence: FloatArray, count: int
) -> npt.NDArray[np.intp]:
    """Indices of up to `count` misclassified samples, most confident first (ties: lower index first)."""
    wrong = np.flatnonzero(predicted != true)
    return wrong[np.argsort(-confidence[wrong], kind="stable")[:count]]


@dataclass(frozen=True)
class Figures:
    folder: Path  # where the PNGs are written
    link: Path  # the same folder as the pages link it, relative to them


def _target(figures: Figures, listing: list[Image], name: str, caption: str) -> Path:
    """Record figure `name` for the page and return the path to write it to."""
    listing.append(Image((figures.link / f"{name}.png").as_posix(), caption))
    return figures.folder / f"{name}.png"


def draw_figures(
    folder: Figures,
    architectures: list[Architecture],
    X_train: FloatArray,
    y_train: IntArray,
    X_test: FloatArray,
    y_test: IntArray,
) -> list[Image]:
    """Write every PNG under folder/figures; return the shared ones and fill each architecture's `figures`."""
    shared: list[Image] = []
    galleries.plot_samples(
        X_train[:10],
        y_train[:10],
        _target(folder, shared, "samples", "The first ten training images and their labels"),
    )
    charts.plot_comparison(
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
        _target(
            folder,
            shared,
            "comparison",
            "Test accuracy per architecture and seed, with 95% Wilson intervals; "
            "parameters and mean training time",
        ),
    )
    chosen = {arch.name: arch.chosen for arch in architectures}
    charts.plot_test_accuracy_all(
        {name: (run.history["epoch"], run.history["test_accuracy"]) for name, run in chosen.items()},
        _target(folder, shared, "test_accuracy_all", "Test accuracy per epoch, all architectures"),
    )
    charts.plot_per_class_f1(
        {
            name: [run.per_class[str(label)]["f1"] for label in range(N_CLASSES)]
            for name, run in chosen.items()
        },
        _target(folder, shared, "per_class_f1", "Per-class F1 on the test set, all architectures"),
    )
    for arch in architectures:
        _draw_architecture(folder, arch, X_test, y_test)
    return shared


def _draw_architecture(folder: Figures, arch: Architecture, X_test: FloatArray, y_test: IntArray) -> None:
    name, run, own = arch.name, arch.chosen, arch.figures
    history = run.history
    charts.plot_curves(
        epochs=history["epoch"],
        loss=history["loss"],
        train_loss=history["train_loss"],
        test_loss=history["test_loss"],
        train_accuracy=history["train_accuracy"],
        test_accuracy=history["test_accuracy"],
        arch=name,
        path=_target(folder, own, f"curves_{name}", f"{name}: loss, and train and test accuracy, per epoch"),
    )
    # Counts of (true, predicted) pairs: row = true class, column = predicted class.
    counts = np.bincount(y_test * N_CLASSES + run.predicted, minlength=N_CLASSES**2).reshape(
        N_CLASSES, N_CLASSES
    )
    charts.plot_confusion(
        counts, name, _target(folder, own, f"confusion_{name}", f"{name}: confusion matrix (counts)")
    )
    charts.plot_confusion_normalized(
        counts,
        name,
        _target(folder, own, f"confusion_normalized_{name}", f"{name}: confusion matrix, rows normalised"),
    )
    shown = np.arange(min(GALLERY_SIZE, len(y_test)))  # the first test images: a fixed, unbiased choice
    galleries.plot_predictions(
        X_test[shown],
        y_test[shown],
        run.predicted[shown],
        name,
        _target(
            folder,
            own,
            f"predictions_{name}",
            f"{name}: the first ten test images, true / predicted (red: wrong)",
        ),
    )
    wrong = most_confident_errors(y_test, run.predicted, run.confidence, GALLERY_SIZE)
    galleries.plot_misclassified(
        X_test[wrong],
        y_test[wrong],
        run.predicted[wrong],
        run.confidence[wrong],
        name,
        _target(
            folder, own, f"misclassified_{name}", f"{name}: the most confidently misclassified test images"
        ),
    )
    galleries.plot_weights(
        run.first_layer, name, _target(folder, own, f"weights_{name}", f"{name}: first-layer weights")
    )


def write_curves(path: Path, architectures: list[Architecture]) -> None:
    """Every run's history in one long table, a row per run and epoch, named by architecture and
    seed: the file dvc.yaml's combined plots draw, so they follow params.yaml with no edit."""
    rows = (
        {
            "architecture": arch.name,
            "seed": run.seed,
            **{column: values[epoch] for column, values in run.history.items()},
        }
        for arch in architectures
        for run in arch.runs
        for epoch in range(len(run.history["epoch"]))
    )
    write_csv(path, ["architecture", "seed", *HISTORY_COLUMNS], rows)


def summary(architectures: list[Architecture]) -> dict[str, dict[str, float]]:
    """Per run, what the page shows and git keeps only here: the run's facts and training time are
    DVC-cached beside its model, and macro F1 is with the per-class scores."""
    return {
        run.name: {
            "test_accuracy": run.metrics["accuracy"],
            "macro_f1": run.macro_f1,
            "n_parameters": run.train["n_parameters"],
            "selected_epoch": run.train["selected_epoch"],
            "train_accuracy": run.train["train_accuracy"],
            "train_seconds": run.seconds,
        }
        for arch in architectures
        for run in arch.runs
    }


def _remove_stale(folder: Path, keep: set[str]) -> None:
    """Delete PNGs of architectures no longer in params.yaml (the folder is this stage's output)."""
    for path in sorted(folder.glob("*.png")):
        if path.name not in keep:
            path.unlink()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--prepared", type=Path, required=True, help="prepare's folder, e.g. data/prepared")
    for kind, stage in KINDS.items():
        parser.add_argument(
            f"--{kind}", required=True, help=f"{stage}'s {kind} file, with {RUN} for ARCH-SEED"
        )
    parser.add_argument("--figures", type=Path, required=True, help="folder for the PNG figures")
    parser.add_argument(
        "--markdown", type=Path, required=True, help="the Markdown page, e.g. reports/README.md"
    )
    parser.add_argument("--html", type=Path, required=True, help="the HTML page, beside the Markdown one")
    parser.add_argument("--curves", type=Path, required=True, help="every run's history in one table (CSV)")
    parser.add_argument(
        "--summary", type=Path, required=True, help="what the page says of each run, for the README (JSON)"
    )
    parser.add_argument(
        "--pad", type=Path, required=True, help="the drawing pad's weights (publish's output)"
    )
    args = parser.parse_args(argv)
    patterns = {kind: getattr(args, kind) for kind in KINDS}
    if args.html.parent != args.markdown.parent:
        raise StageError(
            f"--html {args.html} and --markdown {args.markdown} must be in one folder (they link the "
            "same figures)"
        )

    params = load_params()
    seeds = params["seeds"]
    check_present(patterns, list(params["architectures"]), seeds)
    check_made_with(args.prepared, params["prepare"])
    X_train, y_train = load_split(args.prepared, TRAIN)
    X_test, y_test = load_split(args.prepared, TEST)
    architectures = [
        load_architecture(name, architecture_settings(params, name), seeds, patterns, y_test)
        for name in params["architectures"]
    ]
    figures = Figures(args.figures, Path(os.path.relpath(args.figures, args.markdown.parent)))
    shared = draw_figures(figures, architectures, X_train, y_train, X_test, y_test)
    written = shared + [image for arch in architectures for image in arch.figures]
    _remove_stale(args.figures, {Path(image.src).name for image in written})
    comparison = Comparison.of(architectures, y_test)
    pad = Path(os.path.relpath(args.pad, args.markdown.parent)).as_posix()
    blocks = page_blocks(
        params, architectures, comparison, shared, n_train=len(y_train), pad_weights=pad, made_by=provenance()
    )
    write_curves(args.curves, architectures)
    write_json(args.summary, summary(architectures))
    write_text(args.markdown, to_markdown(blocks))
    write_text(args.html, to_html(TITLE, blocks))
    print(
        f"report: {len(architectures)} architecture(s) x {len(seeds)} seed(s), {len(written)} figures in "
        f"{args.figures}, pages {args.markdown} and {args.html}; {comparison.headline}"
    )


if __name__ == "__main__":
    run_stage(main, "report")
