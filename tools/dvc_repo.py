"""DVC from the tools that change its state: its repository lock, and how to run it.

`dvc repro`, `dvc checkout` and a workspace `dvc exp run` hold DVC's repository lock
(.dvc/tmp/lock) for their whole run, stages included. A tool that rewrites dvc.lock or outputs
while one runs corrupts the record (a model swapped under a running evaluate, a dvc.lock update
lost), so `tools.prune` and `tools.restore` do all their work holding that same lock, taken
through DVC's own API: they refuse while any DVC command runs, and any DVC command refuses while
they run. DVC is reached through this interpreter (`sys.executable -m dvc`, or its Python API),
never by a `dvc` on PATH, which is missing when the venv is not activated.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from stages.common.runner import StageError

if TYPE_CHECKING:
    from dvc.repo import Repo

DVC = (sys.executable, "-m", "dvc")  # the DVC installed beside this interpreter

_held: list[Repo] = []  # the repository this process has locked, while it holds the lock


@contextlib.contextmanager
def locked_repo() -> Iterator[Repo]:
    """The DVC repository of the working directory, with DVC's repository lock held for the block
    (re-entrant: an inner block reuses the outer one's). Refused in one line while another
    process holds the lock (DVC waits 3 s for it)."""
    if _held:
        yield _held[-1]
        return
    from dvc.exceptions import DvcException
    from dvc.lock import LockError
    from dvc.repo import Repo, lock_repo

    try:
        repo = Repo()
    except DvcException as error:
        raise StageError(
            f"this is not a DVC repository here ({error}); run it from the project's folder"
        ) from None
    with repo, contextlib.ExitStack() as stack:
        try:
            stack.enter_context(lock_repo(repo))
        except LockError:
            raise StageError(
                f"a DVC command is running in this repository (it holds {repo.lock.lockfile}); nothing "
                "was changed. Run this again when it has finished"
            ) from None
        _held.append(repo)
        try:
            yield repo
        finally:
            _held.pop()
