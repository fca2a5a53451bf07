"""Atomic file output: write to a temporary file beside the target, then rename it into place.

A reader (or DVC) never sees a half-written file: after a crash, a full disk or Ctrl-C the
target is either the old file or the complete new one, and the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files readable by the owner only; give outputs the usual permissions.
FILE_MODE = 0o666 & ~_current_umask()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file for writing; on success rename it to `path`, else delete it.

    OSErrors (full disk, unwritable folder) are re-raised with `path` in the message.
    """
    path = Path(path)
    try:
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise OSError(error.errno, f"cannot write {path}: {error.strerror}") from error
    try:
        with os.fdopen(descriptor, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
    except OSError as error:
        _remove_quietly(temporary)
        raise OSError(error.errno, f"cannot write {path}: {error.strerror or error}") from error
    except BaseException:
        _remove_quietly(temporary)
        raise


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
