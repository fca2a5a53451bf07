"""Atomic file output: write to a temporary file beside the target, then rename it into place.

A reader (or DVC) never sees a half-written file: after a crash, a full disk or Ctrl-C the
target is either the old file or the complete new one, and the temporary file is removed.
Inside `deferred_renames()` the renames wait for the end of the block, so a program writing
several files replaces all of them or none.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

# How to fix the usual reasons a file cannot be written; the message names the path.
FIXES = {
    errno.ENOSPC: "free some disk space, then run again",
    errno.EDQUOT: "free some disk space (over quota), then run again",
    errno.EROFS: "remount it read-write or write the outputs elsewhere",
    errno.EACCES: "make its folder writable for this user",
    errno.EPERM: "make its folder writable for this user",
    errno.ENOTDIR: "a part of its folder path is a file; move that file away",
    errno.EEXIST: "a file stands where its folder should be; move that file away",
    errno.ENOENT: "its folder does not exist; create it",
}


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files readable by the owner only; give outputs the usual permissions.
FILE_MODE = 0o666 & ~_current_umask()
_batches: list[list[tuple[str, Path]]] = []  # open deferred_renames() blocks, innermost last


def write_error(path: str | os.PathLike[str], error: OSError) -> OSError:
    """An OSError like `error` whose message names `path`, the problem and, if known, the fix."""
    fix = FIXES.get(error.errno) if error.errno is not None else None
    message = f"cannot write {path}: {error.strerror or error}"
    return OSError(error.errno, f"{message}; {fix}" if fix else message)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file for writing; on success rename it to `path`, else delete it.

    OSErrors (full disk, unwritable folder) are re-raised with `path` in the message.
    """
    path = Path(path)
    try:
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise write_error(path, error) from error
    try:
        with os.fdopen(descriptor, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, FILE_MODE)
        if _batches:
            _batches[-1].append((temporary, path))
        else:
            os.replace(temporary, path)
    except OSError as error:
        _remove_quietly(temporary)
        raise write_error(path, error) from error
    except BaseException:
        _remove_quietly(temporary)
        raise


@contextlib.contextmanager
def deferred_renames() -> Iterator[None]:
    """Hold back the renames of every atomic_open inside the block until it ends without error.

    Then all finished files are renamed into place together, with SIGINT and SIGTERM held off
    meanwhile (they take effect right after); if the block raises, or is interrupted, every
    temporary file is removed and all targets keep their old content. (The renames themselves
    are not one atomic step: should one fail, say because its target became a folder, the
    earlier ones stay done and the error names the file.)
    """
    batch: list[tuple[str, Path]] = []
    _batches.append(batch)
    try:
        yield
    except BaseException:
        _batches.pop()
        for temporary, _ in batch:
            _remove_quietly(temporary)
        raise
    _batches.pop()
    if _batches:  # nested: the outer block commits
        _batches[-1].extend(batch)
        return
    with _signals_held():
        for index, (temporary, path) in enumerate(batch):
            try:
                os.replace(temporary, path)
            except OSError as error:
                for leftover, _ in batch[index:]:
                    _remove_quietly(leftover)
                raise write_error(path, error) from error


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Note SIGINT and SIGTERM during the block and act on them only after it (main thread only).

    The Python handlers are swapped, not the signal mask: a process-wide signal may be delivered
    to any thread (NumPy's BLAS threads among them), so blocking it in this thread is not enough.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[int] = []
    held = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    held = {signum: handler for signum, handler in held.items() if handler is not None}
    for signum in held:
        signal.signal(signum, lambda number, frame: noted.append(number))
    try:
        yield
    finally:
        for signum, handler in held.items():
            signal.signal(signum, handler)
        for number in dict.fromkeys(noted):  # each held signal once, in the order it came
            signal.raise_signal(number)


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
