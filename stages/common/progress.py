"""Training progress for people: a bar on a terminal, a line every few epochs in logs."""

from __future__ import annotations

import sys
from collections.abc import Mapping


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
