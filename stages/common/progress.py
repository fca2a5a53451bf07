"""Training progress: for people, a bar on a terminal or a line every few epochs in logs; for
DVC's tools, the history so far in an untracked file (`live/RUN.csv`)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from stages.common.output import csv_text


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


class LiveHistory:
    """The history so far, rewritten after every epoch to a file DVC's tools can read while the
    stage runs: `dvc plots show live/medium-42.csv` (the tracked history appears only at the end).

    The file is progress, not a result: written at once (renamed into place whole, never half),
    not held back with the stage's outputs, not tracked by DVC, and never worth failing a
    training for: a write that fails is reported once and given up.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: list[dict[str, float]] = []
        self.failed = False

    def __call__(self, record: Mapping[str, float]) -> None:
        self.records.append(dict(record))
        if self.failed:
            return
        temporary = self.path.with_name(f".{self.path.name}.live.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(csv_text(list(self.records[0]), self.records), encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError as error:
            self.failed = True
            print(
                f"note: live progress not written to {self.path} ({error.strerror or error})", file=sys.stderr
            )
        finally:  # gone after a rename; also removed when a failure or a signal stops the write
            with contextlib.suppress(OSError):
                temporary.unlink()
