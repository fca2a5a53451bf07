"""Back to the last commit: `python -m tools.restore` (`make restore`).

What a failed or unwanted `dvc exp run -S` or `dvc repro` leaves behind: params.yaml with the
new value, outputs DVC deleted before a stage ran, dvc.lock entries, .gitignore lines and files
of new items. This puts back params.yaml, dvc.lock and the files git tracks under reports/ and
data/ as HEAD has them (uncommitted changes to them are dropped), and the artifacts of dvc.yaml
that the register stage writes (the rest of dvc.yaml is the user's and stays), restores
the DVC-cached outputs (`dvc checkout`) and removes what no committed item declares (`tools.prune`).

Files are written from `git show HEAD:PATH` where their bytes differ, not checked out: DVC's
`-S` may rewrite params.yaml within the second git last looked at it, and when the length stays
the same (momentum 0.9 -> 1.5) git takes the file for unchanged and `git checkout` does nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from stages.common.output import write_bytes
from stages.common.runner import StageError
from stages.register import models_pattern, owned, register
from tools.prune import prune

# What git keeps of a run: the params, the lock and the uncached outputs and .gitignore files.
RECORD = ("params.yaml", "dvc.lock", "reports", "data")


def _run(*command: str) -> bytes:
    done = subprocess.run(command, capture_output=True, check=False)
    if done.returncode != 0:
        said = (done.stderr or done.stdout).decode(errors="replace").strip()
        raise StageError(f"`{' '.join(command)}` failed: {said}")
    return done.stdout


def missing_from_cache(lock: dict[str, Any], cache: Path) -> list[str]:
    """The cached outputs dvc.lock `lock` records that neither the DVC cache at `cache` holds nor
    the workspace has as recorded: `dvc checkout` could not bring them back."""
    missing = []
    for stage in (lock.get("stages") or {}).values():
        for out in stage.get("outs") or []:
            path, md5 = out["path"], str(out.get("md5", ""))
            ignored = subprocess.run(["git", "check-ignore", "-q", path], check=False).returncode == 0
            if not ignored or not md5 or (cache / md5[:2] / md5[2:]).is_file():
                continue  # git keeps it, or the cache has it
            if md5.endswith(".dir") or not Path(path).is_file():
                missing.append(path)
            elif hashlib.md5(Path(path).read_bytes()).hexdigest() != md5:
                missing.append(path)
    return missing


def restore() -> list[str]:
    """Restore the committed state (from the repository's top folder); return what changed.

    Refused before anything changes when a committed output is in no local cache (a fresh clone
    that ran the pipeline again has other training times than the commit): `dvc pull` first."""
    os.chdir(_run("git", "rev-parse", "--show-toplevel").decode().strip())
    cache = Path(_run("dvc", "cache", "dir").decode().strip()) / "files" / "md5"
    lost = missing_from_cache(YAML(typ="safe", pure=True).load(_run("git", "show", "HEAD:dvc.lock")), cache)
    if lost:
        raise StageError(
            f"the committed {', '.join(lost[:3])}{' …' if len(lost) > 3 else ''} are in no DVC cache "
            "here, so restoring dvc.lock would leave them missing; nothing was changed. `dvc pull` fetches "
            "them from the DVC remote; without one, keep this run (`git status` shows what it changed) or "
            "`dvc repro`"
        )
    _run("git", "reset", "-q", "HEAD", "--", *RECORD)  # unstage, say what core.autostage staged
    restored = []
    listed = _run("git", "ls-tree", "-r", "-z", "--name-only", "HEAD", "--", *RECORD).decode()
    for path in filter(None, listed.split("\0")):
        committed = _run("git", "show", f"HEAD:{path}")
        if not os.path.isfile(path) or Path(path).read_bytes() != committed:
            write_bytes(path, committed)
            restored.append(f"restored {path}")
    committed = YAML(typ="safe", pure=True).load(_run("git", "show", "HEAD:dvc.yaml"))
    models = models_pattern(committed)
    if register(Path("dvc.yaml"), owned(committed.get("artifacts") or {}, models), models):
        restored.append("restored the models' artifacts in dvc.yaml")
    _run("dvc", "checkout")
    return restored + [f"removed {item}" for item in prune()]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.restore", description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    for change in restore():
        print(f"restore: {change}")
    print("restore: params.yaml, dvc.lock and the outputs are as committed (`dvc status` to check)")


if __name__ == "__main__":
    try:
        main()
    except StageError as error:
        raise SystemExit(f"restore: error: {error}") from None
