"""DVC from the tools that change its state: its locks, and how to reach it.

`dvc repro`, `dvc checkout` and a workspace `dvc exp run` hold DVC's repository lock
(.dvc/tmp/lock), except while a stage's command runs: then DVC releases it and holds instead its
read/write locks (.dvc/tmp/rwlock) on that stage's dependencies and outputs. A tool that rewrites
dvc.lock or outputs while one runs corrupts the record (a model swapped under a running evaluate,
a dvc.lock update lost), so `tools.prune` and `tools.restore` do all their work holding both, taken
through DVC's own code: the repository lock, and a write lock on the whole repository, which
conflicts with every path any running stage holds. So they refuse while any DVC command runs,
and a DVC command refuses while they run. DVC is reached through this interpreter (its Python
API), never through a `dvc` on PATH, which is missing when the venv is not activated.
"""

from __future__ import annotations

import contextlib
import os
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
    from dvc.rwlock import RWLockFileCorruptedError, RWLockFileFormatError, rwlock

    try:
        repo = Repo()
    except DvcException as error:
        raise StageError(
            f"this is not a DVC repository here ({error}); run it from the project's folder"
        ) from None
    with repo, contextlib.ExitStack() as stack:
        try:
            stack.enter_context(lock_repo(repo))
            hardlink = repo.config["core"].get("hardlink_lock", False)
            # The command as DVC names its own (`rwlocked`), so DVC's calls in this process pass.
            command = " ".join(sys.argv)
            stack.enter_context(rwlock(repo.tmp_dir, repo.fs, command, [], [repo.root_dir], hardlink))
        except LockError:
            raise StageError(
                "a DVC command is running in this repository (it holds .dvc/tmp/lock or a path in "
                ".dvc/tmp/rwlock); nothing was changed. Run this again when it has finished"
            ) from None
        except (RWLockFileCorruptedError, RWLockFileFormatError):
            # A DVC command killed mid-write (a full disk) leaves it cut short; DVC keeps failing too.
            raise StageError(
                f"DVC's lock file {repo.tmp_dir}/rwlock is damaged (not the JSON DVC writes); nothing "
                "was changed. When no DVC command is running, delete it "
                f"(`rm {os.path.relpath(repo.tmp_dir)}/rwlock`) and run this again"
            ) from None
        _held.append(repo)
        try:
            yield repo
        finally:
            _held.pop()
