"""Atomic file output: write to a temporary file beside the target, then rename it into place.

A reader never sees a half-written file: after a crash, a full disk or an exception the
target is either the old file or the complete new one, and the temporary file is removed.
Who renames the finished file, and when, is the caller's choice (`publish`): a program that
must replace several files together collects them and renames them at its end.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

Publish = Callable[[str, Path], None]  # (finished temporary file, target) -> the file is in place


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files readable by the owner only; give outputs the usual permissions.
FILE_MODE = 0o666 & ~_current_umask()


def write_error(path: str | os.PathLike[str], error: OSError) -> OSError:
    """An OSError with `error`'s errno whose message names `path` and what went wrong."""
    return OSError(error.errno, f"cannot write {path}: {error.strerror or error}")


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "wb", *, publish: Publish = os.replace, **kwargs: Any
) -> Iterator[IO[Any]]:
    """Open a temporary file beside `path` for writing; when the block ends without error the
    file is flushed to disk and handed to `publish` (by default renamed to `path` at once),
    otherwise it is deleted.

    OSErrors (full disk, unwritable folder) are re-raised with `path` in the message and the
    original errno, so a caller can add advice of its own.
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
        publish(temporary, path)
    except OSError as error:
        remove_quietly(temporary)
        raise write_error(path, error) from error
    except BaseException:
        remove_quietly(temporary)
        raise


def remove_quietly(path: str | os.PathLike[str]) -> None:
    """Delete `path` if it exists."""
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
