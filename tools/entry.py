"""How every tool ends: one line on stderr, never a traceback (`run_tool`).

Expected errors become `NAME: error: …` (exit 1), Ctrl-C `NAME: interrupted` (130) and SIGTERM
`NAME: terminated` (143), each followed by the notes the tool attached to the exception (restore:
where it kept what it had replaced). A reader that closed the pipe (`| head -1`) ends it quietly;
a stdout that cannot be written (`> /dev/full`) is one line too.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable

from stages.common.runner import EXPECTED_ERRORS, _raise_terminated, _Terminated, describe


def run_tool(
    main: Callable[[], int | None], name: str, errors: tuple[type[Exception], ...] = EXPECTED_ERRORS
) -> None:
    """Run main() and exit with its status, or with one line saying why it stopped."""
    signal.signal(signal.SIGTERM, _raise_terminated)
    flushing = False
    try:
        status = main()
        flushing = True
        sys.stdout.flush()  # a failing stdout fails here, not at exit after the last word
    except KeyboardInterrupt as stop:
        _stop(name, "interrupted", stop, 130)
    except _Terminated as stop:
        _stop(name, "terminated", stop, 128 + signal.SIGTERM)
    except BrokenPipeError:
        _drop_stdout()  # the reader stopped: say nothing
        sys.exit(1)
    except errors as error:
        text = describe(error)
        if isinstance(error, OSError) and (flushing or _stdout_fails()):
            _drop_stdout()
            text = f"its output (stdout) cannot be written: {text}"
        _stop(name, f"error: {text}", error, 1)
    sys.exit(status or 0)


def _stop(name: str, what: str, error: BaseException, status: int) -> None:
    notes = "".join(f"; {note}" for note in getattr(error, "__notes__", []))
    print(f"{name}: {what}{notes}", file=sys.stderr)
    sys.exit(status)


def _stdout_fails() -> bool:
    """Whether stdout refuses writes (a device such as /dev/full refuses even an empty one)."""
    try:
        os.write(sys.stdout.fileno(), b"")
    except (OSError, ValueError):
        return True
    return False


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so that exit does not flush into a closed pipe or a full disk."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
