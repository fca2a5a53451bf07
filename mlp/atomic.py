"""Atomic file output: write to a temporary file beside the target, then rename it into place.

A reader never sees a half-written file: after a crash, a full disk or an exception the
target is either the old file or the complete new one, and the temporary file is removed.
Who renames the finished file, and when, is the caller's choice (`publish`): a program that
must replace several files together collects them and renames them at its end.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from mlp.reading import file_kind

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


def rename_error(temporary: str, path: Path, error: OSError) -> OSError:
    """write_error(path, error), unless the finished temporary file is gone from a folder that is
    there: then another process removed it (another run writing the same output cleans up the
    temporaries a killed one left), which "its folder does not exist" would misstate."""
    if error.errno == errno.ENOENT and path.parent.is_dir() and not os.path.lexists(temporary):
        return OSError(
            f"cannot write {path}: its temporary file {Path(temporary).name} was removed by another process "
            "before it was renamed into place (another run writing the same output?); run again once that "
            "one has finished"
        )
    return write_error(path, error)


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
        existing = os.stat(path).st_mode
    except OSError:  # nothing there (or unreachable: mkstemp says why)
        existing = stat.S_IFREG
    if not stat.S_ISREG(existing):  # the rename would put a file in place of a device, a FIFO, ...
        raise OSError(
            f"cannot write {path}: it is {file_kind(existing)}, not a regular file, and writing would "
            "replace it; give the path of a file instead (or move it away first)"
        )
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
        raise rename_error(temporary, path, error) from error
    except BaseException:
        remove_quietly(temporary)
        raise


def remove_quietly(path: str | os.PathLike[str]) -> None:
    """Delete `path` if it exists."""
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
