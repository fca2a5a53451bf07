"""What DVC leaves of items that params.yaml no longer declares, and removing it.

dvc.yaml's matrix stages (`train@ARCH-SEED`, `evaluate@ARCH-SEED`) name each output by `${key}`.
When an architecture or a seed leaves params.yaml (or is renamed), DVC keeps the old items'
dvc.lock entries, outputs and .gitignore lines and never removes them itself. The check stage
removes what DVC recorded of them (`remove_recorded`); `tools/prune.py` also finds finished runs
that only their files show (after `dvc exp apply`). Only paths that the current dvc.yaml names
by `${key}` are ever touched, filled with a key that DVC recorded: never a user's look-alike file.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML, YAMLError

from mlp.reading import UnreadableFileError, read_bytes
from stages.common.output import open_output, write_text
from stages.common.params_core import SAFE_NAME, yaml_file

LOCK = Path("dvc.lock")
DVC_YAML = Path("dvc.yaml")
KEY = "${key}"  # how dvc.yaml names a matrix item's outputs
# A matrix item's key as DVC writes it: ARCH-SEED, an architecture name of params.yaml and a seed.
# SAFE_NAME, not check's stricter architecture names: runs of names check now refuses (2layer-42)
# made before it did are still found and removed.
ITEM_KEY = re.compile(rf"(?:{SAFE_NAME.pattern})-\d+")
# An item's entry in dvc.lock's text (read as text: it may hold merge-conflict markers); the key
# is ITEM_KEY's, so a crafted entry (`evaluate@../../x:`) names no path outside the repository.
LOCK_ENTRY = re.compile(rf"^  [A-Za-z_]+@({ITEM_KEY.pattern}):$", re.MULTILINE)
REFERENCE = re.compile(r"\$\{\s*([A-Za-z0-9_.]+)\s*\}")  # a matrix axis read from params: ${seeds}
MAX_IGNORE_BYTES = 1 << 20  # an output folder's .gitignore: a line per output


class LeftoverError(ValueError):
    """dvc.yaml names an item's outputs in a way that cannot be told apart from other items', or
    dvc.lock cannot be read."""


def read_lock(yaml: YAML | None = None, path: Path = LOCK) -> Any:
    """dvc.lock as `yaml` (by default the safe loader) loads it ({} when there is none); a file
    that is not YAML (a merge's conflict markers) is a LeftoverError that says how to fix it."""
    try:
        return read_pipeline(path, yaml) if path.exists() or path.is_symlink() else {}
    except YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise LeftoverError(
            f"{path} is not valid YAML{where}: {getattr(error, 'problem', None) or error}; if a git merge "
            f"left conflict markers (<<<<<<<) in it, take one side (`git checkout --theirs {path}`) and "
            "run `dvc repro`"
        ) from None


def read_pipeline(path: Path = DVC_YAML, yaml: YAML | None = None) -> Any:
    """dvc.yaml (or dvc.lock) parsed with `yaml`, {} when empty; a file that is no regular file of
    bounded size is a LeftoverError naming it (YAMLError and OSError pass through)."""
    try:
        return yaml_file(path, yaml) or {}
    except UnreadableFileError as error:
        raise LeftoverError(
            f"{path} {error}; put back the file (`git checkout {path}` brings back the committed one)"
        ) from None


def ignore_lines(ignore: Path) -> list[str]:
    """The lines of a .gitignore file ([] when there is none), read as a bounded regular file."""
    if not (ignore.exists() or ignore.is_symlink()):
        return []
    try:
        return read_bytes(ignore, MAX_IGNORE_BYTES).decode("utf-8", errors="replace").splitlines()
    except UnreadableFileError as error:
        raise LeftoverError(f"{ignore} {error}; remove it (`dvc repro` writes it again)") from None


def item_outputs(dvc_yaml: dict[str, Any], uncached_only: bool = False) -> dict[str, list[str]]:
    """{matrix stage: the paths (outs, metrics, plots) each of its items writes, `${key}` unfilled};
    with `uncached_only`, those with `cache: false` only: what git keeps, and so what a finished
    run leaves on disk even after `dvc checkout` removed its cached outputs."""
    patterns: dict[str, list[str]] = {}
    for name, stage in (dvc_yaml.get("stages") or {}).items():
        if not isinstance(stage, dict) or "matrix" not in stage:
            continue
        paths = patterns.setdefault(name, [])
        for section in ("outs", "metrics", "plots"):
            for entry in stage.get(section) or []:
                path = entry if isinstance(entry, str) else next(iter(entry))
                cached = isinstance(entry, str) or (entry[path] or {}).get("cache", True)
                if uncached_only and cached:
                    continue
                if path.count(KEY) != 1 or "${" in path.replace(KEY, ""):
                    raise LeftoverError(
                        f"dvc.yaml: stage {name} declares {path}; an output's item can only be told "
                        f"when its path names the item by {KEY} alone"
                    )
                normal = os.path.normpath(Path(stage.get("wdir", ".")) / path)
                if os.path.isabs(normal) or normal.split(os.sep)[0] == "..":
                    raise LeftoverError(f"dvc.yaml: stage {name} writes {path}, outside the repository")
                paths.append(Path(normal).as_posix())
    return patterns


def keys_ignored(patterns: Iterable[str], root: Path = Path()) -> set[str]:
    """The item keys that DVC's .gitignore lines still name beside one of `patterns` (what DVC
    wrote for a cached output, left when `dvc checkout` removed the file itself)."""
    keys = set()
    for pattern in set(patterns):
        folder, name = os.path.split(pattern)
        before, after = name.split(KEY)
        named = re.compile(f"/{re.escape(before)}({ITEM_KEY.pattern}){re.escape(after)}")
        ignore = root / folder / ".gitignore"
        for line in ignore_lines(ignore):
            if found := named.fullmatch(line):
                keys.add(found[1])
    return keys


def declared_items(dvc_yaml: dict[str, Any], params: dict[str, Any]) -> set[str]:
    """The matrix items (`train@medium-42`) that dvc.yaml declares with `params`, named as DVC
    names them: the axes' values (a mapping's keys) joined by `-`, in the matrix's order."""
    items = set()
    for name, stage in (dvc_yaml.get("stages") or {}).items():
        if not isinstance(stage, dict) or "matrix" not in stage:
            continue
        axes = []
        for axis in stage["matrix"].values():
            if isinstance(axis, str) and (reference := REFERENCE.fullmatch(axis)):
                axis = params
                for part in reference[1].split("."):
                    axis = axis[part]
            axes.append(list(axis))
        items |= {f"{name}@{'-'.join(map(str, values))}" for values in itertools.product(*axes)}
    return items


def recorded(
    lock: dict[str, Any], declared: set[str], patterns: dict[str, list[str]]
) -> dict[str, list[Path]]:
    """{matrix item that DVC recorded (a dvc.lock entry, or a .gitignore line beside one of its
    `patterns`) but that is not `declared`: its `${key}` paths that no declared item shares}."""
    entries = lock.get("stages") or {}
    keys = {name.partition("@")[2] for name in entries if name.partition("@")[0] in patterns}
    keys |= keys_ignored(path for paths in patterns.values() for path in paths)
    items = {f"{stage}@{key}" for stage in patterns for key in keys if ITEM_KEY.fullmatch(key)}
    items |= {name for name in entries if name.partition("@")[0] in patterns}

    def paths(item: str) -> list[Path]:
        stage, _, key = item.partition("@")
        return [Path(pattern.replace(KEY, key)) for pattern in patterns[stage]]

    kept = {path for item in declared for path in paths(item) if item.partition("@")[0] in patterns}
    return {
        item: [path for path in paths(item) if path not in kept]
        for item in sorted(items - declared)
        if item in entries or any(path.is_file() or _ignored(path) for path in paths(item))
    }


def _ignored(path: Path) -> bool:
    ignore = path.parent / ".gitignore"
    return f"/{path.name}" in ignore_lines(ignore)


def remove(outputs: Iterable[Path], dry: bool = False) -> list[str]:
    """Remove each of `outputs` that is a file (or a link) and its DVC .gitignore line; return what
    was (or, `dry`, would be) removed. A folder where an item's file belongs is somebody else's,
    and so is a path whose folder lies outside the repository (the working directory) once links
    are resolved."""
    removed: list[str] = []
    top = Path.cwd().resolve()
    dropped: dict[Path, set[str]] = {}  # each .gitignore and the lines to take out of it
    for path in outputs:
        if not path.parent.resolve().is_relative_to(top):
            continue
        if path.is_symlink() or path.is_file():
            removed.append(str(path))
            if not dry:
                path.unlink()
        if _ignored(path):
            ignore = path.parent / ".gitignore"
            removed.append(f"{ignore}: /{path.name}")
            dropped.setdefault(ignore, set()).add(f"/{path.name}")
    # Each .gitignore is written once: a second write in the same stage deleted the first one's
    # temporary file, still waiting for the stage to commit, and the commit then failed.
    for ignore, lines in dropped.items() if not dry else ():
        kept = [line for line in ignore_lines(ignore) if line not in lines]
        write_text(ignore, "".join(f"{line}\n" for line in kept))
    return removed


def drop_lock_entries(names: Iterable[str], lock_path: Path = LOCK) -> list[str]:
    """Remove the dvc.lock entries `names`, keeping the rest of the file as it is (atomically)."""
    yaml = YAML()  # round-trip: dvc.lock keeps its layout apart from the entries removed
    lock = read_lock(yaml, lock_path)
    entries = lock.get("stages") or {}
    gone = [name for name in names if name in entries]
    for name in gone:
        del entries[name]
    if gone:
        with open_output(lock_path) as handle:
            yaml.dump(lock, handle)
    return [f"dvc.lock entry {name}" for name in gone]


def remove_recorded(params: dict[str, Any]) -> list[str]:
    """In the repository's top folder: remove the dvc.lock entries, outputs and .gitignore lines
    that DVC recorded of matrix items that dvc.yaml no longer declares with `params`."""
    if not (DVC_YAML.exists() or DVC_YAML.is_symlink()):  # a FIFO there is refused, not skipped
        return []
    dvc_yaml = read_pipeline()
    lock = read_lock()
    stale = recorded(lock, declared_items(dvc_yaml, params), item_outputs(dvc_yaml))
    removed = drop_lock_entries(stale)
    return removed + remove(path for paths in stale.values() for path in paths)
