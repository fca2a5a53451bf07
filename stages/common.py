"""What every stage shares: atomic JSON/CSV writers, progress output and clean failure.

`run_stage(main)` turns the errors we expect (bad params, bad data, a diverged run, a full
disk) into one message on stderr and exit status 1, Ctrl-C into 130 and SIGTERM into 143.
Outputs are written atomically (mlp.atomic), and by default renamed into place only when
main() returns, so a stage that fails or is interrupted leaves every output as it was.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import signal
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from mlp import ModelFileError, TrainingDivergedError
from mlp.atomic import FIXES, atomic_open, deferred_renames, write_error

FLOAT_DIGITS = 6  # tracked files round floats so reruns and diffs stay stable and readable


class StageError(RuntimeError):
    """A stage cannot go on; the message names the problem and the fix."""


def rounded(value: Any) -> Any:
    """Round floats (also inside dicts and lists) to FLOAT_DIGITS significant decimals."""
    if isinstance(value, float):
        return round(value, FLOAT_DIGITS)
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(item) for item in value]
    return value


def timing_log(arch: str) -> Path:
    """The untracked training-time log of one architecture: timings differ on every run, so no
    DVC-tracked file holds them."""
    return Path(f"logs/train-{arch}.json")


def make_parent(path: str | Path) -> None:
    """Create the folder `path` goes in; an OSError names `path` and the fix."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise write_error(path, error) from error


def write_json(path: str | Path, data: Mapping[str, Any]) -> None:
    """Write `data` as sorted, rounded, indented JSON, atomically."""
    make_parent(path)
    with atomic_open(path, "w", encoding="utf-8") as handle:
        json.dump(rounded(dict(data)), handle, indent=2, sort_keys=True)
        handle.write("\n")


def write_csv(path: str | Path, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """Write rows (dicts) as CSV with the given column order, floats rounded, atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rounded(dict(row)) for row in rows)
    write_text(path, buffer.getvalue())


def write_text(path: str | Path, text: str) -> None:
    """Write text atomically, creating the parent folder."""
    make_parent(path)
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


EXPECTED_ERRORS = (StageError, ValueError, TrainingDivergedError, ModelFileError, OSError)


def run_stage(
    main: Callable[..., None], name: str, argv: Sequence[str] | None = None, all_or_nothing: bool = True
) -> None:
    """Run a stage's main(argv); expected failures become one clear message and a non-zero exit.

    With `all_or_nothing`, files main() writes with atomic_open appear only once it returns, all
    together; a stage that reads back its own outputs (fetch) must pass False.
    """
    signal.signal(signal.SIGTERM, functools.partial(_exit_on_sigterm, name))
    try:
        with deferred_renames() if all_or_nothing else contextlib.nullcontext():
            main(argv)
    except KeyboardInterrupt:
        print(f"{name}: interrupted; no partial output was kept", file=sys.stderr)
        sys.exit(130)
    except EXPECTED_ERRORS as error:
        print(f"{name}: error: {_describe(error)}", file=sys.stderr)
        sys.exit(1)


def _describe(error: Exception) -> str:
    """The message of an expected error; a bare OSError from the system gets its path and fix."""
    if isinstance(error, OSError) and error.filename is not None:  # straight from the system
        fix = FIXES.get(error.errno) if error.errno is not None else None
        return f"{error.filename}: {error.strerror}" + (f"; {fix}" if fix else "")
    if isinstance(error, OSError) and error.strerror:
        return error.strerror  # ours (mlp.atomic.write_error): already names the path and the fix
    return str(error)


def _exit_on_sigterm(name: str, signum: int, frame: FrameType | None) -> None:
    # SystemExit unwinds the stack, so atomic_open's cleanup removes temporary files.
    print(f"{name}: terminated; no partial output was kept", file=sys.stderr)
    sys.exit(128 + signum)


class EpochProgress:
    """Progress over epochs: a tqdm bar on a terminal, else one line every `every` epochs."""

    def __init__(self, total: int, label: str, every: int = 10) -> None:
        self.total, self.label, self.every = total, label, every
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=label, unit="epoch", file=sys.stderr)

    def __call__(self, record: Mapping[str, float]) -> None:
        shown = ("loss", "train_accuracy", "val_accuracy", "test_accuracy")
        figures = " ".join(f"{key} {record[key]:.4f}" for key in shown if key in record)
        if self.bar is not None:
            self.bar.set_postfix_str(figures, refresh=False)
            self.bar.update(1)
            if record["epoch"] == self.total:
                self.bar.close()
        elif record["epoch"] % self.every == 0 or record["epoch"] in (1, self.total):
            epoch = int(record["epoch"])
            print(f"{self.label} epoch {epoch}/{self.total} {figures}", file=sys.stderr, flush=True)
