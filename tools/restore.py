"""Back to the last commit: `python -m tools.restore` (`make restore`).

What a failed or unwanted `dvc exp run -S` or `dvc repro` leaves behind: params.yaml with the
new value, outputs DVC deleted before a stage ran, dvc.lock entries, .gitignore lines and files
of new items. This puts back params.yaml, dvc.lock and the files git tracks under reports/ and
data/ as HEAD has them, and the artifacts of dvc.yaml that the register stage writes (the rest of
dvc.yaml is the user's and stays), restores the DVC-cached outputs (`dvc checkout`) and removes
what no committed item declares (`tools.prune`).

Nothing uncommitted is lost: before changing anything it moves every file it would overwrite or
remove (a params.yaml edit, an uncommitted run's results and models, a folder where a committed
file belongs, a FIFO or device inside an output, which DVC's hashing would wait on forever) into
.dvc/tmp/restore/TIME/files/, keeps what was staged of them as a patch there,
and its last line gives the one command that puts it all back, and that the folder, which only
the user removes (it is their work), can be deleted once not needed. A folder of plain files, not
`git stash`: git's stash keeps the whole index, so `stash apply --index` fails whenever other
files are staged; it relies on git's stat cache, which a same-second `-S` rewrite fools; and it
keeps no git-ignored model. Moving costs no space on a full disk, and the files stay readable.
Files the user added (staged or not) that restore does not overwrite stay where they are.

All of it happens under DVC's repository lock (`tools.dvc_repo`): refused, with nothing changed,
while a `dvc` command runs. Files are written from `git show HEAD:PATH` where their bytes differ,
not checked out: DVC's `-S` may rewrite params.yaml within the second git last looked at it, and
when the length stays the same (momentum 0.9 -> 1.5) git takes the file for unchanged.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import shutil
import stat
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAMLError

from mlp.reading import UnreadableFileError, read_bytes
from stages.common import leftovers
from stages.common.output import make_parent, write_bytes
from stages.common.params_core import MAX_YAML_BYTES, parse_yaml
from stages.common.runner import EXPECTED_ERRORS, StageError, describe
from stages.register import models_pattern, owned, register
from tools.dvc_repo import locked_repo
from tools.entry import run_tool
from tools.prune import keys_in_git, prune

# What git keeps of a run: the params, the lock and the uncached outputs and .gitignore files.
RECORD = ("params.yaml", "dvc.lock", "reports", "data")
BACKUPS = Path(".dvc/tmp/restore")  # what restore replaced, one folder per run (git ignores .dvc/tmp)


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
            ignored = (
                subprocess.run(
                    ["git", "check-ignore", "-q", path], capture_output=True, check=False
                ).returncode
                == 0
            )
            if not ignored or not md5 or (cache / md5[:2] / md5[2:]).is_file():
                continue  # git keeps it, or the cache has it
            if md5.endswith(".dir") or not Path(path).is_file():
                missing.append(path)
            elif hashlib.md5(Path(path).read_bytes()).hexdigest() != md5:
                missing.append(path)
    return missing


def not_regular(lock: dict[str, Any]) -> set[str]:
    """The FIFOs, devices and sockets at or inside the outputs dvc.lock `lock` records: DVC's
    hashing opens them and waits forever (`dvc checkout` hangs), so restore moves them aside."""
    found = set()
    for stage in (lock.get("stages") or {}).values():
        for out in stage.get("outs") or []:
            top = Path(out["path"])
            inside = top.rglob("*") if top.is_dir() and not top.is_symlink() else []
            for path in [top, *inside]:
                mode = path.lstat().st_mode if (path.exists() or path.is_symlink()) else None
                if mode is not None and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
                    found.add(path.as_posix())
    return found


def _committed_lock(text: bytes) -> Any:
    """HEAD's dvc.lock, parsed; one clear line when a commit holds a broken one."""
    try:
        return parse_yaml(text) or {}
    except (YAMLError, UnreadableFileError) as error:
        raise StageError(
            f"the committed dvc.lock is not valid YAML ({getattr(error, 'problem', None) or error}); commit "
            "a fixed one (or `git checkout` a commit that has one) first; nothing was changed"
        ) from None


def recorded_keys() -> set[str]:
    """The item keys (ARCH-SEED) that the work tree's dvc.lock (read as text: it may hold merge
    conflict markers) and DVC's .gitignore lines name: the runs to remove once HEAD's are back."""
    try:  # a dvc.lock that is no regular file of bounded size names no run, and is set aside
        text = read_bytes(leftovers.LOCK, MAX_YAML_BYTES).decode(errors="replace")
    except (FileNotFoundError, UnreadableFileError):
        text = ""
    ignored = leftovers.keys_ignored(path for paths in _patterns().values() for path in paths)
    return set(leftovers.LOCK_ENTRY.findall(text)) | ignored


def _patterns() -> dict[str, list[str]]:
    return leftovers.item_outputs(leftovers.read_pipeline())


def keep(committed: dict[str, bytes], items: set[str], backup: Path) -> str | None:
    """Move into `backup`/files every file that restoring would overwrite or remove: those of
    `committed` (HEAD's files under RECORD, path -> bytes) whose bytes differ, and of `items` (the
    paths of the recorded runs' items) and of HEAD's cached output files (`dvc checkout` refuses
    to overwrite an edited one) those that are neither HEAD's file nor HEAD's cached output; save
    what was staged of them as `backup`/staged.patch and unstage it. Return what `kept_note` says
    of it."""
    recorded = {
        out["path"]: str(out.get("md5"))
        for stage in (_committed_lock(committed.get("dvc.lock", b"")).get("stages") or {}).values()
        for out in stage.get("outs") or []
    }
    cached_files = {path for path, md5 in recorded.items() if not md5.endswith(".dir")}  # not folders
    moved = []
    for path in sorted(set(committed) | items | cached_files):
        here = Path(path)
        if not (here.exists() or here.is_symlink()):
            continue
        if here.is_file() and not here.is_symlink():
            content = here.read_bytes()
            if committed.get(path) == content or hashlib.md5(content).hexdigest() == recorded.get(path):
                continue
        make_parent(backup / "files" / path)
        shutil.move(path, backup / "files" / path)
        moved.append(path)
    if read_bytes("dvc.yaml", MAX_YAML_BYTES) != _run("git", "show", "HEAD:dvc.yaml"):  # its artifacts
        make_parent(backup / "files" / "dvc.yaml")
        shutil.copy2("dvc.yaml", backup / "files" / "dvc.yaml")  # is rewritten in place
        moved.append("dvc.yaml")
    staged = _run("git", "diff", "--cached", "--name-only", "-z", "--no-renames", "HEAD", "--", *RECORD)
    staged_paths = [path for path in staged.decode().split("\0") if path in committed or path in items]
    if staged_paths:
        write_bytes(
            backup / "staged.patch", _run("git", "diff", "--cached", "--binary", "HEAD", "--", *staged_paths)
        )
        _run("git", "reset", "-q", "HEAD", "--", *staged_paths)
    return kept_note(backup)


def kept_note(backup: Path) -> str | None:
    """Where `backup` keeps what restore replaced and the one command that puts it back, or None
    when it keeps nothing (also after an interruption part-way through `keep`)."""
    way_back = [f"git apply --cached {backup}/staged.patch"] if (backup / "staged.patch").exists() else []
    way_back += [f"cp -a {backup}/files/. ."] if (backup / "files").exists() else []
    if not way_back:
        return None
    return (
        f"kept what it replaced in {backup}; to put it back: `{' && '.join(way_back)}`; it stays until you "
        f"delete it (`rm -r {backup}`) once you no longer need it"
    )


def restore() -> list[str]:
    """Restore the committed state (from the repository's top folder); return what changed.

    Refused before anything changes when a committed output is in no local cache (a fresh clone
    that ran the pipeline again has other training times than the commit): `dvc pull` first."""
    os.chdir(_run("git", "rev-parse", "--show-toplevel").decode().strip())
    with locked_repo() as repo:
        lock = _committed_lock(_run("git", "show", "HEAD:dvc.lock"))
        lost = missing_from_cache(lock, Path(repo.cache.local.path))
        if lost:
            raise StageError(
                f"the committed {', '.join(lost[:3])}{' …' if len(lost) > 3 else ''} are in no DVC cache "
                "here, so restoring dvc.lock would leave them missing; nothing was changed. `dvc pull` "
                "fetches them from the DVC remote; without one, keep this run (`git status` shows what it "
                "changed) or `dvc repro`"
            )
        keys = recorded_keys()
        listed = _run("git", "ls-tree", "-r", "-z", "--name-only", "HEAD", "--", *RECORD).decode()
        committed = {path: _run("git", "show", f"HEAD:{path}") for path in filter(None, listed.split("\0"))}
        items = {
            item
            for paths in _patterns().values()
            for pattern in paths
            for item in _filled(pattern, keys | keys_in_git())
        } | not_regular(lock)
        backup = BACKUPS / datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        try:
            keep(committed, items, backup)
            restored = _put_back(repo, committed, keys)
        except EXPECTED_ERRORS as error:
            kept = kept_note(backup)
            raise StageError(describe(error) + (f"; nothing is lost: {kept}" if kept else "")) from None
        except BaseException as stop:  # Ctrl-C, SIGTERM: tools.entry says it, with this note
            if kept := kept_note(backup):
                stop.add_note(f"nothing is lost: {kept}")
            raise
        return restored + ([kept] if (kept := kept_note(backup)) else [])


def _filled(pattern: str, keys: set[str]) -> list[str]:
    return [pattern.replace(leftovers.KEY, key) for key in keys]


def _put_back(repo: Any, committed: dict[str, bytes], keys: set[str]) -> list[str]:
    """HEAD's files `committed` (path -> bytes), its artifacts in dvc.yaml, its cached outputs;
    then no stale item of `keys` or any other."""
    from dvc.exceptions import DvcException

    restored = []
    for path, content in committed.items():
        if not os.path.isfile(path) or Path(path).read_bytes() != content:
            write_bytes(path, content)
            restored.append(f"restored {path}")
    pipeline = parse_yaml(_run("git", "show", "HEAD:dvc.yaml"))
    models = models_pattern(pipeline)
    if register(Path("dvc.yaml"), owned(pipeline.get("artifacts") or {}, models), models):
        restored.append("restored the models' artifacts in dvc.yaml")
    try:
        repo.checkout()
    except DvcException as error:
        raise StageError(f"`dvc checkout` failed: {error}") from None
    return restored + [f"removed {item}" for item in prune(keys=keys)]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.restore", description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    for change in restore():
        print(f"restore: {change}")
    print("restore: params.yaml, dvc.lock and the outputs are as committed (`dvc status` to check)")


if __name__ == "__main__":
    run_tool(main, "restore")
