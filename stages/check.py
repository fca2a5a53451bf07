"""Check stage: params.yaml is valid as a whole, before any other stage runs.

Usage (from dvc.yaml): python -m stages.check OUTPUT

DVC deletes a stage's outputs right before running it, so a stage that refuses its params
has already lost them. Every other stage depends on this one, which DVC runs first: a bad
value (say from `dvc exp run -S train.epochs=-1`) stops the pipeline here, before any other
stage has run. OUTPUT holds the same bytes whatever the params, so a valid change
reruns only the stages whose own params changed.

Then, params being valid, it removes what DVC recorded of the items that params.yaml no longer
declares (an architecture or a seed removed or renamed): their dvc.lock entries, outputs and
.gitignore lines (`stages.common.leftovers`). DVC runs this stage first, under its repository
lock, and rewrites dvc.lock from the file after each stage, so the removal stays, and the stages
after it (the report) see only today's items: one `dvc repro` after an edit, nothing left behind.
OUTPUT is not in DVC's cache (`cache: false` in dvc.yaml): a run-cache restore would skip this.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from stages.common.leftovers import remove_recorded
from stages.common.output import write_text
from stages.common.params import ParamsError, load_params
from stages.common.runner import RESTORE_COMMAND, run_stage

UNDO = (
    "No other stage has run, but DVC may have removed outputs already: this stage's own, and "
    "those of the items that new `architectures` or `seeds` rename or remove. To go back (also "
    f"after a `dvc exp run -S`): `{RESTORE_COMMAND}` (or `make restore`; it keeps what it replaces "
    "aside and says how to get it back), or correct the value and run again."
)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.check", description=__doc__.split("\n\n")[0])
    parser.add_argument("output", help="a file saying params.yaml is valid, e.g. data/checked.txt")
    args = parser.parse_args(argv)
    try:
        params = load_params()
    except ParamsError as error:
        raise ParamsError(f"{error}\n{UNDO}") from None
    write_text(args.output, "params.yaml is valid\n")
    print("check: params.yaml is valid")
    for removed in remove_recorded(params):
        print(f"check: removed {removed} (no longer in params.yaml)")


if __name__ == "__main__":
    run_stage(main, "check", removes_outputs=False)
