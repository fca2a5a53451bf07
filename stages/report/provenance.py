"""What produced a report: the commit, the DVC experiment if any, and what differed from the commit.

A page read later, or on a git host, should say which code and params made it. DVC names a
running experiment in DVC_EXP_NAME and its baseline commit in DVC_EXP_BASELINE_REV; git says
whether params.yaml or the code differ from that commit (the pipeline's own outputs, dvc.lock and
dvc.yaml's artifacts, which the pipeline writes, do not count), and params.yaml's differences
are named key by key.
"""

from __future__ import annotations

import os
import subprocess
from typing import Any

from ruamel.yaml import YAMLError

from mlp.reading import UnreadableFileError
from stages.common.params_core import flatten, parse_yaml, read_yaml

INPUTS = ("params.yaml", "mlp", "stages", "tools")  # what a run is made of, beside dvc.yaml's commands


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def changed_params(committed: str, current: dict[str, Any]) -> list[str]:
    """The dotted keys whose values differ between a committed params.yaml text and the current
    params (added or removed included); none named when the committed text is not YAML."""
    try:
        before, after = flatten(parse_yaml(committed) or {}), flatten(current or {})
    except (YAMLError, UnreadableFileError):  # not YAML, or nested too deep: say only that it changed
        return []
    return sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))


def provenance() -> str:
    """One sentence: the commit (and experiment) that made this page, and what differed from it."""
    experiment = os.environ.get("DVC_EXP_NAME")
    commit = os.environ.get("DVC_EXP_BASELINE_REV") or (_git("rev-parse", "HEAD") or "").strip()
    if not commit:
        return "Made outside a git repository, so no commit records what made it."
    made = (
        f"Made by DVC experiment {experiment} from commit {commit[:7]}"
        if experiment
        else f"Made on commit {commit[:7]}"
    )
    listed = _git("status", "--porcelain", "--untracked-files=no", "--", *INPUTS) or ""
    changed = sorted(line[3:] for line in listed.splitlines())
    if not changed:
        return f"{made}, with params.yaml and the code as committed."
    described = []
    for path in changed:
        if path == "params.yaml":
            committed = _git("show", f"{commit}:params.yaml")
            keys = changed_params(committed, read_yaml(path)) if committed is not None else []
            described.append(f"params.yaml ({', '.join(keys)})" if keys else "params.yaml")
        else:
            described.append(path)
    return f"{made}; uncommitted changes to {', '.join(described)}."
