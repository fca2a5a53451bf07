"""Remove what no stage declares any more: `python -m tools.prune` (`make prune`).

After an architecture or a seed is removed from params.yaml (or renamed), DVC leaves its
items' outputs, their dvc.lock entries and their .gitignore lines behind, and never removes
them itself. This lists every such leftover and removes it (`--dry` only lists). It reads the
stage items as `dvc stage list` does (DVC's API), so it knows exactly what dvc.yaml declares now, and each
item's outputs from dvc.yaml's paths named `${key}`. An item that is not declared now is stale
if dvc.lock has an entry for it, DVC's .gitignore lines still name it, or a whole run of it is on
disk (a file at every uncached path of its stage): `dvc exp apply` resets dvc.lock to the applied
experiment's, but leaves the files of its other items behind. A killed training's live progress
(`live/ARCH-SEED.csv`, which no running training holds) goes too, whatever its item. It refuses
to run on an invalid params.yaml, whose items `dvc stage list` would get wrong. The check stage
removes, at the start of every run with changed params, what DVC recorded of such items
(`stages.common.leftovers`), so after an edit of params.yaml `dvc repro` alone is enough; this
finds the rest.

Safe while DVC runs and against a crafted dvc.lock: all of it happens under DVC's repository and
read/write locks (`tools.dvc_repo`), refused while a `dvc` command runs; the only files it ever removes are
the paths of the CURRENT dvc.yaml's matrix stages filled with an item key, inside the repository
after links are resolved (`leftovers.remove`), never the paths a stale dvc.lock entry lists; and a
key counts as a run on disk only when some dvc.lock in git (a branch or a DVC experiment) records
it, so a user's copy `medium_backup-1.*` beside `medium-42.*` is never taken for a leftover.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML

from stages.common import leftovers
from stages.common.leftovers import ITEM_KEY, KEY, LOCK, LOCK_ENTRY, keys_ignored, read_lock
from stages.common.output import open_output
from stages.common.params import ParamsError, load_params
from stages.common.progress import remove_stale
from stages.common.runner import StageError
from stages.train import LIVE
from tools.dvc_repo import locked_repo
from tools.entry import run_tool

if TYPE_CHECKING:
    from dvc.repo import Repo

# Each train item's progress so far (`dvc plots show live/ARCH-SEED.csv`): untracked, not in dvc.yaml.
UNDECLARED = {"train": [f"{LIVE.as_posix()}/{KEY}.csv"]}


def current_stages(repo: Repo) -> set[str]:
    """The stage items dvc.yaml declares with today's params.yaml (what `dvc stage list` names),
    read by `repo` from the repository's top folder."""
    from dvc.exceptions import DvcException

    try:
        return {stage.addressing for stage in repo.index.stages}
    except DvcException as error:
        raise StageError(f"DVC cannot read the pipeline: {error}") from None


def keys_in_git() -> set[str]:
    """The item keys (ARCH-SEED) that dvc.lock names at HEAD, a branch or a DVC experiment (one
    `git grep`); none outside a git repository."""
    refs = subprocess.run(
        ["git", "for-each-ref", "--format=%(objectname)", "refs/heads", "refs/exps"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    found = subprocess.run(
        ["git", "grep", "-h", "-o", "-E", r"^  [A-Za-z_]+@[A-Za-z0-9_-]+:$", "HEAD", *refs, "--", LOCK.name],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return {key for line in found.splitlines() for key in LOCK_ENTRY.findall(line)}


def item_outputs(dvc_yaml: dict[str, Any], uncached_only: bool = False) -> dict[str, list[str]]:
    """`stages.common.leftovers.item_outputs`, with training's live progress files (untracked)."""
    try:
        patterns = leftovers.item_outputs(dvc_yaml, uncached_only)
    except leftovers.LeftoverError as error:
        raise StageError(str(error)) from None
    return {
        name: paths + ([] if uncached_only else UNDECLARED.get(name, [])) for name, paths in patterns.items()
    }


def _glob_escape(text: str) -> str:
    """`text`, matched literally by Path.glob."""
    return re.sub(r"([*?[])", r"[\1]", text)


def keys_on_disk(uncached: dict[str, list[str]], known: set[str], root: Path = Path()) -> set[str]:
    """The item keys (ARCH-SEED) of `known` whose finished run is on disk under `root`: for some
    matrix stage, a file at every one of its uncached paths (`item_outputs(..., uncached_only=True)`).
    A lone file that merely looks like an item's (`reports/metrics/summary-2025.json`) is not one,
    nor a whole copy under a key no record knows (a user's `medium_backup-1.*`)."""
    keys = set()
    for patterns in uncached.values():
        if not patterns:
            continue
        before, after = patterns[0].split(KEY)
        named = re.compile(f"{re.escape(before)}({ITEM_KEY.pattern}){re.escape(after)}")
        for path in root.glob(f"{_glob_escape(before)}*{_glob_escape(after)}"):
            found = named.fullmatch(path.relative_to(root).as_posix())
            if (
                found
                and found[1] in known
                and all((root / pattern.replace(KEY, found[1])).is_file() for pattern in patterns)
            ):
                keys.add(found[1])
    return keys


def stale(
    lock: dict, current: set[str], patterns: dict[str, list[str]], on_disk: Iterable[str] = ()
) -> dict[str, list[Path]]:
    """{stale stage item: its outputs that no current item also declares}.

    Stale: not in `current`, and either in dvc.lock or, for a matrix stage of `patterns`
    (`item_outputs`), its key (ARCH-SEED) is in dvc.lock under another stage or in `on_disk`.
    Its outputs are `patterns` filled with its key, never the paths its dvc.lock entry lists
    (which anybody can write: `../victim/precious.txt`); a stale entry of another stage has none.
    """
    entries = lock.get("stages") or {}

    def outputs(name: str) -> list[Path]:
        stage, _, key = name.partition("@")
        named = patterns.get(stage, []) if ITEM_KEY.fullmatch(key) else []
        return [Path(path.replace(KEY, key)) for path in named]

    locked = {name.partition("@")[2] for name in entries if name.partition("@")[0] in patterns}
    keys = {key for key in locked | set(on_disk) if ITEM_KEY.fullmatch(key)}
    items = [*entries, *sorted(f"{stage}@{key}" for stage in patterns for key in keys)]
    kept = {path for name in current for path in outputs(name)}
    return {
        name: list(dict.fromkeys(path for path in outputs(name) if path not in kept))
        for name in dict.fromkeys(items)
        if name not in current
    }


def prune(dry: bool = False, keys: Iterable[str] = ()) -> list[str]:
    """Remove stale outputs, dvc.lock entries and .gitignore lines; return what was (or would be)
    removed. Holds DVC's repository lock throughout; `keys` are item keys known to have been run
    (restore passes those of the run it set aside), stale unless an item declares them."""
    with locked_repo() as repo:
        os.chdir(repo.root_dir)
        try:
            load_params()
        except ParamsError as error:
            raise StageError(
                f"{error}\nprune keeps the items params.yaml declares, so it needs a valid params.yaml; fix "
                "it (or bring back the committed one) first"
            ) from None
        yaml = YAML()  # round-trip: dvc.lock keeps its layout apart from the entries removed
        lock = read_lock(yaml)
        entries = lock.get("stages") or {}
        dvc_yaml = leftovers.read_pipeline()
        patterns = item_outputs(dvc_yaml)
        uncached = item_outputs(dvc_yaml, uncached_only=True)
        on_disk = keys_on_disk(uncached, keys_in_git() | set(keys)) | set(keys)
        on_disk |= keys_ignored(path for paths in patterns.values() for path in paths)
        removed, unlocked = [], False
        for name, outputs in stale(lock, current_stages(repo), patterns, on_disk).items():
            if name in entries:
                removed.append(f"dvc.lock entry {name}")
                if not dry:
                    del entries[name]
                    unlocked = True
            removed += leftovers.remove(outputs, dry)
        # A killed run's progress, whichever item it was: no training holds it.
        removed += [str(path) for path in remove_stale(LIVE, dry)]
        if unlocked:
            with open_output(LOCK) as handle:  # atomic, like every file the tools rewrite
                yaml.dump(lock, handle)
    return list(dict.fromkeys(removed))  # a stale item's live file is found twice with --dry


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.prune", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry", action="store_true", help="list what would be removed, remove nothing")
    args = parser.parse_args(argv)
    removed = prune(args.dry)
    verb = "would remove" if args.dry else "removed"
    for item in removed:
        print(f"prune: {verb} {item}")
    print(
        f"prune: {len(removed)} stale item(s)"
        + ("" if args.dry or not removed else "; commit with `git add -A`")
    )


if __name__ == "__main__":
    run_tool(main, "prune")
