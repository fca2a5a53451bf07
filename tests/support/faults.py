"""Faults injected into the tests' own process: a disk that fills up after so many bytes, and a
FIFO in place of a file."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path


class FillingDisk(io.RawIOBase):
    """A raw file that accepts `room` more bytes, then fails as a full disk does."""

    def __init__(self, raw: io.FileIO, room: int):
        self.raw, self.room = raw, room

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written = self.raw.write(bytes(memoryview(data)[: self.room]))
        self.room -= written
        return written

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def fileno(self) -> int:
        return self.raw.fileno()

    def close(self) -> None:
        self.raw.close()
        super().close()


def fill_disk(monkeypatch, at_file: int, room: int) -> None:
    """Make the disk fill up after `room` bytes of the `at_file`-th file written through atomic_open."""
    real_fdopen, calls = os.fdopen, []

    def fdopen(descriptor: int, mode: str = "r", **kwargs):
        calls.append(descriptor)
        if len(calls) != at_file:
            return real_fdopen(descriptor, mode, **kwargs)
        buffered = io.BufferedWriter(FillingDisk(real_fdopen(descriptor, "wb", buffering=0), room))
        return buffered if "b" in mode else io.TextIOWrapper(buffered, **kwargs)

    monkeypatch.setattr(os, "fdopen", fdopen)


@contextlib.contextmanager
def fifo_at(path: Path) -> Iterator[None]:
    """A FIFO (named pipe) at `path`, with no writer, for the block.

    Code that opens it and waits for a writer would hang the tests; instead a watcher opens the
    write end whenever a reader waits and closes it at once, so that reader reads an empty file
    (and the test fails on the message, not by hanging).
    """
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    done = threading.Event()

    def unblock_readers() -> None:
        while not done.wait(0.05):
            with contextlib.suppress(OSError):  # ENXIO: no reader is waiting
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))

    watcher = threading.Thread(target=unblock_readers, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
