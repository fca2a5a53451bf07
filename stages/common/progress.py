"""Training progress: for people, a bar on a terminal or a line every few epochs in logs; for
DVC's tools, the history so far in an untracked file (`live/RUN.csv`)."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Mapping
from pathlib import Path

from mlp.atomic import atomic_open
from stages.common.output import rounded


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

    Each write is atomic, but the file is progress, not a result: it is written at once, not held
    back with the stage's outputs, and DVC does not track it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: list[dict[str, float]] = []

    def __call__(self, record: Mapping[str, float]) -> None:
        self.records.append(dict(record))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(self.records[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rounded(row) for row in self.records)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(self.path, "w", encoding="utf-8") as handle:
            handle.write(buffer.getvalue())
