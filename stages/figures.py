"""Figures stage: every PNG the report page shows, drawn from what earlier stages wrote.

Usage (from dvc.yaml): python -m stages.figures --prepared DIR --models PATTERN ... --figures DIR
Drawing is the report's heavy part; as a stage of its own whose outputs DVC caches (the PNGs are
git-tracked plots), it is restored from DVC's run-cache whenever its inputs were seen before.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from stages.common.runner import run_stage
from stages.report.figures import Figures, figures, remove_stale
from stages.report.inputs import add_arguments, load_inputs


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.figures", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument("--figures", type=Path, required=True, help="output: the folder of PNG figures")
    args = parser.parse_args(argv)
    inputs = load_inputs(args)
    drawn = figures(
        Figures(args.figures, args.figures),
        inputs.architectures,
        inputs.X_train,
        inputs.y_train,
        inputs.X_test,
        inputs.y_test,
    )
    drawn += [image for arch in inputs.architectures for image in arch.figures]
    remove_stale(args.figures, {Path(image.src).name for image in drawn})
    print(f"figures: {len(drawn)} PNGs in {args.figures}")


if __name__ == "__main__":
    run_stage(main, "figures")
