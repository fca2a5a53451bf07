"""Report stage: one page (README.md, index.html) from what earlier stages wrote.

Usage (from dvc.yaml): python -m stages.report --prepared DIR --models PATTERN ... --figures DIR
--markdown FILE --html FILE ... Every input and output path comes from the command line (see
stages.report.inputs); the runs are params.yaml's architectures times its seeds. The figures
stage (stages/figures.py) draws the PNGs the page shows (.figures lists them for both); the
comparison comes from .comparison, the page from .page. This stage is light, so that an
experiment whose every other stage DVC restores from its run-cache is quick.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from stages.common.output import write_csv, write_json, write_text
from stages.common.records import HISTORY_COLUMNS
from stages.common.runner import StageError, run_stage
from stages.report.comparison import Comparison
from stages.report.figures import Figures, figures
from stages.report.inputs import Architecture, add_arguments, load_inputs
from stages.report.markup import to_html, to_markdown
from stages.report.page import TITLE, page_blocks
from stages.report.provenance import provenance


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
    """Per run, what the page shows and git keeps only here (the test metrics are in git already):
    the run's facts and training time are DVC-cached beside its model, and macro F1 is with the
    per-class scores."""
    return {
        run.name: {
            "macro_f1": run.macro_f1,
            "n_parameters": run.train["n_parameters"],
            "selected_epoch": run.train["selected_epoch"],
            "train_accuracy": run.train["train_accuracy"],
            "train_seconds": run.seconds,
        }
        for arch in architectures
        for run in arch.runs
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.report", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument("--figures", type=Path, required=True, help="the figures stage's folder of PNGs")
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
    if args.html.parent != args.markdown.parent:
        raise StageError(
            f"--html {args.html} and --markdown {args.markdown} must be in one folder (they link the "
            "same figures)"
        )

    inputs = load_inputs(args)
    architectures = inputs.architectures
    listed = Figures(args.figures, Path(os.path.relpath(args.figures, args.markdown.parent)), draw=False)
    shared = figures(listed, architectures, inputs.X_train, inputs.y_train, inputs.X_test, inputs.y_test)
    drawn = shared + [image for arch in architectures for image in arch.figures]
    missing = [image.src for image in drawn if not (args.markdown.parent / image.src).is_file()]
    if missing:
        raise StageError(f"{len(missing)} figures are missing, e.g. {missing[0]}; run `dvc repro figures`")
    comparison = Comparison.of(architectures, inputs.y_test)
    pad = Path(os.path.relpath(args.pad, args.markdown.parent)).as_posix()
    blocks = page_blocks(
        inputs.params,
        architectures,
        comparison,
        shared,
        n_train=len(inputs.y_train),
        pad_weights=pad,
        made_by=provenance(),
    )
    write_curves(args.curves, architectures)
    write_json(args.summary, summary(architectures))
    write_text(args.markdown, to_markdown(blocks))
    write_text(args.html, to_html(TITLE, blocks))
    print(
        f"report: {len(architectures)} architecture(s) x {len(inputs.params['seeds'])} seed(s), pages "
        f"{args.markdown} and {args.html} with {len(drawn)} figures; {comparison.headline}"
    )


if __name__ == "__main__":
    run_stage(main, "report")
