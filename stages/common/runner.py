"""Running a stage: all-or-nothing outputs, and one clear message instead of a traceback.

`run_stage(main, name)` runs main(argv) as one transaction: every file it writes through
`stages.common.output` waits as a finished temporary file and is renamed into place only when
main() returns and every commit check passes (for example: params.yaml still says what the
stage read), with SIGINT and SIGTERM held off during the renames. A stage that fails or is
interrupted leaves every output as it was. The errors we expect (bad params, bad data, a
diverged run, a full disk) become one message on stderr and exit status 1, Ctrl-C 130 and
SIGTERM 143. Under DVC, a stage whose `dvc` process is gone (killed) stops without writing.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from mlp.atomic import remove_quietly, rename_error

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
# After a failure under DVC, this brings back the last committed params.yaml, dvc.lock and
# outputs, and removes the files of items no commit declares (tools/restore.py says how).
RESTORE_COMMAND = "python -m tools.restore"
RESTORE_HINT = (
    f"DVC removed this stage's outputs before running it; `{RESTORE_COMMAND}` (or `make restore`) brings "
    "back the last committed state (it keeps what it replaces aside and says how to get it back)"
)
DVC_POLL_SECONDS = 1.0


def rebuild_hint(stage: str) -> str:
    """How to make one stage's outputs again: without --single-item, `dvc repro --force` reruns
    every stage before it too (fetch included, which offline may fail and delete data/raw)."""
    return f"rebuild it with `dvc repro --force --single-item {stage}`, then `dvc repro`"


class StageError(RuntimeError):
    """A stage cannot go on; the message names the problem and the fix."""


class _Terminated(BaseException):
    """SIGTERM arrived; raised like KeyboardInterrupt so the stack unwinds before anything is said.

    (Printing inside the signal handler fails when the signal interrupts a write to stderr:
    "reentrant call inside <_io.BufferedWriter name='<stderr>'>".)
    """


EXPECTED_ERRORS = (StageError, ValueError, OSError)  # mlp's ModelFileError is a ValueError


@dataclass
class _Transaction:
    files: list[tuple[str, Path]] = field(default_factory=list)  # (finished temporary, target)
    checks: list[Callable[[], None]] = field(default_factory=list)  # each raises to refuse the commit


_pending: list[_Transaction] = []  # open transactions, innermost last


def publish(temporary: str, path: Path) -> None:
    """Put a finished temporary file in place: at the end of the open transaction, else now."""
    if _pending:
        _pending[-1].files.append((temporary, path))
    else:
        os.replace(temporary, path)


def check_before_commit(check: Callable[[], None]) -> None:
    """Run `check` right before the open transaction renames its files (if one is open);
    it raises to keep every output as it was."""
    if _pending:
        _pending[-1].checks.append(check)


@contextlib.contextmanager
def transaction() -> Iterator[None]:
    """Hold back every `publish` inside the block until it ends without error and every commit
    check passes.

    Then all finished files are renamed into place together, with SIGINT and SIGTERM held off
    meanwhile (they take effect right after); if the block or a check raises, or the block is
    interrupted, every temporary file is removed and all targets keep their old content. (The
    renames themselves are not one atomic step: should one fail, say because its target became
    a folder, the earlier ones stay done and the error names the file.)
    """
    current = _Transaction()
    _pending.append(current)
    try:
        yield
        for check in current.checks:
            check()
    except BaseException:
        _pending.pop()
        for temporary, _ in current.files:
            remove_quietly(temporary)
        raise
    _pending.pop()
    if _pending:  # nested: the outer block checks and commits
        _pending[-1].files.extend(current.files)
        _pending[-1].checks.extend(current.checks)
        return
    with _signals_held():
        for index, (temporary, path) in enumerate(current.files):
            try:
                os.replace(temporary, path)
            except OSError as error:
                for leftover, _ in current.files[index:]:
                    remove_quietly(leftover)
                raise rename_error(temporary, path, error) from error


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
    removes_outputs: bool = True,
) -> None:
    """Run a stage's main(argv); expected failures become one clear message and a non-zero exit.

    With `all_or_nothing`, main() runs in a transaction(); a stage that reads back its own
    outputs (fetch) must pass False. Under DVC a failure also says how to get back the outputs
    DVC removed, unless `removes_outputs` is False (the check stage, whose output is a token).
    """
    dvc = DvcParent.find()
    hint = f"\n{name}: {RESTORE_HINT}" if dvc and removes_outputs else ""
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        with transaction() if all_or_nothing else contextlib.nullcontext():
            if dvc:
                dvc.watch()
                check_before_commit(dvc.check_alive)
            main(argv)
    except KeyboardInterrupt:
        print(f"{name}: interrupted; no partial output was kept{hint}", file=sys.stderr)
        sys.exit(130)
    except _Terminated:
        why = f"its DVC process (pid {dvc.pid}) is gone" if dvc and dvc.gone else "terminated"
        print(f"{name}: {why}; no partial output was kept{hint}", file=sys.stderr)
        sys.exit(128 + signal.SIGTERM)
    except EXPECTED_ERRORS as error:
        print(f"{name}: error: {describe(error)}{hint}", file=sys.stderr)
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


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    # Unwinding the stack lets atomic_open's cleanup remove temporary files.
    raise _Terminated


@dataclass
class DvcParent:
    """The `dvc` process that started this stage (Linux: found through /proc).

    Killing `dvc` does not stop the stage it started; left running, the stage would write its
    outputs minutes later over newer ones. So a watcher thread stops the stage (as SIGTERM does)
    once `dvc` is gone, and the commit refuses to write if it went in between.
    """

    pid: int
    start: str  # the process's start time: a reused pid is another process
    gone: bool = False

    @classmethod
    def find(cls) -> DvcParent | None:
        """The nearest ancestor whose command is dvc, or None (run by hand, or no /proc)."""
        pid = os.getppid()
        while pid > 1:
            stat, command = _proc(pid)
            if stat is None:
                return None
            if any(Path(word).name == "dvc" for word in command[:3]):
                return cls(pid, stat[19])
            pid = int(stat[1])
        return None

    def alive(self) -> bool:
        stat, _ = _proc(self.pid)
        return stat is not None and stat[19] == self.start and stat[0] != "Z"

    def check_alive(self) -> None:
        if not self.alive():
            self.gone = True
            raise StageError(f"its DVC process (pid {self.pid}) is gone, so nothing was written")

    def watch(self) -> None:
        """Stop this process (SIGTERM to itself) as soon as `dvc` is gone."""

        def poll() -> None:
            while self.alive():
                threading.Event().wait(DVC_POLL_SECONDS)
            self.gone = True
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=poll, name="dvc-parent-watch", daemon=True).start()


def _proc(pid: int) -> tuple[list[str] | None, list[str]]:
    """(state, ppid, …, starttime, … from /proc/PID/stat after the command name; argv), or (None, [])."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return None, []
    # The command name in parentheses may hold spaces; the fields after it are plain.
    return stat[stat.rindex(")") + 2 :].split(), command
