"""Remove what no stage declares any more: `python -m tools.prune` (`make prune`).

After an architecture or a seed is removed from params.yaml (or renamed), DVC leaves its
items' outputs, their dvc.lock entries and their .gitignore lines behind, and never removes
them itself. This lists every such leftover and removes it (`--dry` only lists). It reads the
stage items from `dvc stage list`, so it knows exactly what dvc.yaml declares now.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from ruamel.yaml import YAML

from stages.common.output import write_text
from stages.common.runner import StageError
from stages.train import LIVE

LOCK = Path("dvc.lock")


def current_stages() -> set[str]:
    """The stage items dvc.yaml declares with today's params.yaml (`dvc stage list --name-only`)."""
    listed = subprocess.run(
        ["dvc", "stage", "list", "--name-only"], capture_output=True, text=True, check=False
    )
    if listed.returncode != 0:
        raise StageError(f"`dvc stage list` failed: {listed.stderr.strip() or listed.stdout.strip()}")
    return set(listed.stdout.split())


def stale(lock: dict, current: set[str]) -> dict[str, list[Path]]:
    """{stale stage item: its outputs that no current item also declares}."""
    stages = lock.get("stages", {})
    kept = {
        Path(out["path"])
        for name, stage in stages.items()
        if name in current
        for out in stage.get("outs", [])
    }
    return {
        name: [Path(out["path"]) for out in stage.get("outs", []) if Path(out["path"]) not in kept]
        for name, stage in stages.items()
        if name not in current
    }


def prune(dry: bool = False) -> list[str]:
    """Remove stale outputs, dvc.lock entries and .gitignore lines; return what was (or would be) removed."""
    yaml = YAML()  # round-trip: dvc.lock keeps its layout apart from the entries removed
    lock = yaml.load(LOCK.read_text()) if LOCK.exists() else {}
    removed, current = [], current_stages()
    for name, outputs in stale(lock, current).items():
        removed.append(f"dvc.lock entry {name}")
        for path in outputs:
            if path.exists():
                removed.append(str(path))
                if not dry:
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
            line = f"/{path.name}"
            ignore = path.parent / ".gitignore"
            if ignore.exists() and line in ignore.read_text().splitlines():
                removed.append(f"{ignore}: {line}")
                if not dry:
                    lines = [entry for entry in ignore.read_text().splitlines() if entry != line]
                    write_text(ignore, "".join(f"{entry}\n" for entry in lines))
        if not dry:
            del lock["stages"][name]
    if removed and not dry:
        with LOCK.open("w") as handle:
            yaml.dump(lock, handle)
    runs = {name.split("@", 1)[1] for name in current if name.startswith("train@")}
    for live in sorted(LIVE.glob("*.csv")) if LIVE.is_dir() else []:  # training progress of old runs
        if live.stem not in runs:
            removed.append(str(live))
            if not dry:
                live.unlink()
    return removed


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
    try:
        main()
    except StageError as error:
        raise SystemExit(f"prune: error: {error}") from None
