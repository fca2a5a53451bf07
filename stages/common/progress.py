"""Training progress: for people, a bar on a terminal or a line every few epochs in logs; for
DVC's tools, the history so far in an untracked file (`live/RUN.csv`) that `dvc plots show`
draws with the project's template while the run trains (dvc.yaml's top-level `live` plot)."""

from __future__ import annotations

import contextlib
import csv
import fcntl
import os
import re
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO

from mlp.reading import UnreadableFileError, file_kind, open_regular
from stages.common.output import rounded

# A live file is named after its train item: ARCH-SEED.csv.
LIVE_FILE = re.compile(r".+-\d+\.csv")


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
    """The history so far, one CSV line appended after every epoch, for DVC's tools while the
    stage runs (`dvc plots show`; the tracked history appears only at the end). Used as a
    context manager: the file is removed when training ends, however it ends.

    Each epoch costs one line, whatever the epoch number. The file is progress, not a result: not
    held back with the stage's outputs, not tracked by DVC, and never worth failing a training
    for: a write that fails is reported once and given up. While training, the file is locked
    (flock): `remove_stale` removes only files no process holds, such as a killed run's.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: IO[str] | None = None
        self.writer: csv.DictWriter[str] | None = None
        self.failed = False

    def __enter__(self) -> LiveHistory:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def __call__(self, record: Mapping[str, float]) -> None:
        if self.failed:
            return
        try:
            if self.writer is None:
                self.writer = self._start(list(record))
            self.writer.writerow(rounded(dict(record)))
            assert self.handle is not None
            self.handle.flush()  # one write() of one line: readers see whole epochs
        except OSError as error:
            self.failed = True
            print(
                f"note: live progress not written to {self.path} ({error.strerror or error})", file=sys.stderr
            )

    def _start(self, columns: list[str]) -> csv.DictWriter[str]:
        """Sweep stale files beside it, open the file locked, empty, with its header."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(self.path.parent)
        # O_RDWR | O_NONBLOCK: a FIFO put there opens at once and is refused, instead of waiting.
        descriptor = os.open(
            self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o666
        )
        handle = open(descriptor, "a", encoding="utf-8", newline="")  # noqa: SIM115 (closed by close())
        try:
            if not stat.S_ISREG(kind := os.fstat(descriptor).st_mode):
                raise OSError(f"it is {file_kind(kind)}, not a regular file; remove it")
            os.set_blocking(descriptor, True)
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise OSError(f"another process is writing {self.path}") from None
        except OSError:
            handle.close()
            raise
        self.handle = handle
        self.handle.truncate(0)
        writer = csv.DictWriter(self.handle, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        return writer

    def close(self) -> None:
        """Remove the file (while still holding its lock) and close it."""
        if self.handle is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        with contextlib.suppress(OSError):
            self.handle.close()
        self.handle = self.writer = None


def remove_stale(folder: Path, dry: bool = False) -> list[Path]:
    """Remove the live files in `folder` that no training holds (a killed run's, say); return them.
    Only regular files: opening a FIFO found there would wait for a writer (it is only locked, never read)."""
    removed = []
    for path in sorted(folder.glob("*.csv")) if folder.is_dir() else []:
        if not LIVE_FILE.fullmatch(path.name):
            continue
        with contextlib.suppress(OSError, UnreadableFileError), open_regular(path, sys.maxsize) as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError (an OSError): live
            removed.append(path)
            if not dry:
                path.unlink()
    return removed
