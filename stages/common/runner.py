"""Running a stage: all-or-nothing outputs, and one clear message instead of a traceback.

`run_stage(main, name)` runs main(argv) as one transaction: every file it writes through
`stages.common.output` waits as a finished temporary file and is renamed into place only when
main() returns, with SIGINT and SIGTERM held off during the renames. A stage that fails or
is interrupted leaves every output as it was. The errors we expect (bad params, bad data, a
diverged run, a full disk) become one message on stderr and exit status 1, Ctrl-C 130 and
SIGTERM 143.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType

from mlp import ModelFileError, TrainingDivergedError
from mlp.atomic import remove_quietly, write_error

# How to fix the usual reasons a file cannot be written; the message already names the path.
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


class StageError(RuntimeError):
    """A stage cannot go on; the message names the problem and the fix."""


EXPECTED_ERRORS = (StageError, ValueError, TrainingDivergedError, ModelFileError, OSError)
_pending: list[list[tuple[str, Path]]] = []  # open transactions' finished files, innermost last


def publish(temporary: str, path: Path) -> None:
    """Put a finished temporary file in place: at the end of the open transaction, else now."""
    if _pending:
        _pending[-1].append((temporary, path))
    else:
        os.replace(temporary, path)


@contextlib.contextmanager
def transaction() -> Iterator[None]:
    """Hold back every `publish` inside the block until it ends without error.

    Then all finished files are renamed into place together, with SIGINT and SIGTERM held off
    meanwhile (they take effect right after); if the block raises, or is interrupted, every
    temporary file is removed and all targets keep their old content. (The renames themselves
    are not one atomic step: should one fail, say because its target became a folder, the
    earlier ones stay done and the error names the file.)
    """
    batch: list[tuple[str, Path]] = []
    _pending.append(batch)
    try:
        yield
    except BaseException:
        _pending.pop()
        for temporary, _ in batch:
            remove_quietly(temporary)
        raise
    _pending.pop()
    if _pending:  # nested: the outer block commits
        _pending[-1].extend(batch)
        return
    with _signals_held():
        for index, (temporary, path) in enumerate(batch):
            try:
                os.replace(temporary, path)
            except OSError as error:
                for leftover, _ in batch[index:]:
                    remove_quietly(leftover)
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


def run_stage(
    main: Callable[[Sequence[str] | None], None],
    name: str,
    argv: Sequence[str] | None = None,
    all_or_nothing: bool = True,
) -> None:
    """Run a stage's main(argv); expected failures become one clear message and a non-zero exit.

    With `all_or_nothing`, main() runs in a transaction(); a stage that reads back its own
    outputs (fetch) must pass False.
    """
    signal.signal(signal.SIGTERM, functools.partial(_exit_on_sigterm, name))
    try:
        with transaction() if all_or_nothing else contextlib.nullcontext():
            main(argv)
    except KeyboardInterrupt:
        print(f"{name}: interrupted; no partial output was kept", file=sys.stderr)
        sys.exit(130)
    except EXPECTED_ERRORS as error:
        print(f"{name}: error: {describe(error)}", file=sys.stderr)
        sys.exit(1)


def describe(error: Exception) -> str:
    """The message of an expected error; an OSError gets its path (if the system gave one) and fix."""
    if not isinstance(error, OSError):
        return str(error)
    fix = FIXES.get(error.errno) if error.errno is not None else None
    # Straight from the system the path is in `filename`; ours (mlp.atomic) name it in strerror.
    text = (
        f"{error.filename}: {error.strerror}" if error.filename is not None else error.strerror or str(error)
    )
    return f"{text}; {fix}" if fix else text


def _exit_on_sigterm(name: str, signum: int, frame: FrameType | None) -> None:
    # SystemExit unwinds the stack, so atomic_open's cleanup removes temporary files.
    print(f"{name}: terminated; no partial output was kept", file=sys.stderr)
    sys.exit(128 + signum)
