"""Every experiment on one line: `python -m tools.table` (`make experiments`).

`dvc exp show` lists every metric and parameter in its own column, which no terminal fits.
This reads its JSON and prints, per experiment, the parameters it changed from its baseline
commit (for the workspace: from the last commit) and each architecture's test accuracy, the
mean over its seeds with their standard deviation and count, in at most 100 columns. A failed,
queued or running experiment shows its state instead of numbers: DVC lists such a run with the
metrics its baseline commit holds, which it never produced.

Left out: how DVC reads params.yaml (its JSON carries the values as DVC's YAML 1.2 reader parsed
them) and which commit each experiment started from (its baseline row above it says so).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from statistics import mean, stdev
from typing import Any

from stages.common.params_core import flatten
from stages.common.runner import StageError
from tools.dvc_repo import DVC
from tools.entry import run_tool

WIDTH = 100
# reports/metrics/ARCH-SEED.json: ARCH may hold letters, digits, `_` and `-` (`2layer`, `wide-2`);
# SEED is the last dash-separated integer.
METRICS_FILE = re.compile(r"reports/metrics/(?P<arch>[A-Za-z0-9_-]+)-(?P<seed>\d+)\.json")
# Where DVC keeps experiments (dvc/repo/experiments/refs.py and stash.py): a finished one as
# refs/exps/<baseline sha[:2]>/<baseline sha[2:]>/<name>, a queued or failed one as a stash entry
# whose message is dvc-exp:<rev>:<baseline sha>:<name>.
EXPERIMENT_REF = re.compile(r"refs/exps/(?P<head>[0-9a-f]{2})/(?P<tail>[0-9a-f]{38})/[^/]+")
STASH_MESSAGE = re.compile(r"dvc-exp:[0-9a-f]{40}:(?P<baseline>[0-9a-f]{40}):")
STASHES = ("refs/exps/celery/stash", "refs/exps/celery/failed")
UNFINISHED = ("failed", "queued", "running")


@dataclass
class Row:
    """One line: an experiment (indented under its baseline), what it changed, its results or state."""

    name: str
    changed: dict[str, Any] = field(default_factory=dict)
    results: dict[str, list[float]] = field(default_factory=dict)  # architecture -> one accuracy per seed
    state: str | None = None  # failed, queued, running, stale: then `results` stays empty
    experiments: list[Row] = field(default_factory=list)


def changes(params: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The keys whose values differ from `base`; a key `base` has and `params` lacks as `~key`."""
    changed = {key: value for key, value in params.items() if key not in base or base[key] != value}
    return changed | {f"~{key}": None for key in base if key not in params}


def accuracies(metrics: dict[str, Any]) -> dict[str, list[float]]:
    """{architecture: [test accuracy per seed]} from `dvc exp show`'s metrics of one revision."""
    by_arch: dict[str, list[float]] = {}
    for path, content in metrics.items():
        data = (content or {}).get("data") or {}
        if (match := METRICS_FILE.fullmatch(path)) and isinstance(data.get("accuracy"), int | float):
            by_arch.setdefault(match["arch"], []).append(float(data["accuracy"]))
    return by_arch


def _params(revision: dict[str, Any]) -> dict[str, Any] | None:
    """A revision's flattened params.yaml, or None when DVC could not read it."""
    found = ((revision.get("data") or {}).get("params") or {}).get("params.yaml") or {}
    return None if found.get("error") or not isinstance(found.get("data"), dict) else flatten(found["data"])


def _row(name: str, revision: dict[str, Any], base: dict[str, Any] | None, state: str | None) -> Row:
    """A revision's line; `state` None means a finished run (or a commit), whose `error` makes it
    `failed` (DVC sets it on a failed run and still lists its baseline's metrics)."""
    params = _params(revision)
    if params is None:
        return Row(name, {"params.yaml unreadable": None}, state=state or "error")
    if revision.get("error") and state not in UNFINISHED:
        state = "failed"
    results = {} if state else accuracies((revision.get("data") or {}).get("metrics") or {})
    return Row(name, changes(params, params if base is None else base), results, state)


def rows(shown: list[dict[str, Any]]) -> list[Row]:
    """The workspace, each baseline commit and, under it, its experiments, from `dvc exp show --json`.

    The workspace is compared with the first baseline, HEAD, which DVC lists right after it.
    """
    table: list[Row] = []
    head = next((_params(entry) for entry in shown if entry["rev"] != "workspace"), None)
    for baseline in shown:
        if baseline["rev"] == "workspace":
            table.append(_row("workspace", baseline, head, None))
            continue
        base = _params(baseline)
        row = _row(baseline.get("name") or baseline["rev"][:7], baseline, None, None)
        for experiment in baseline.get("experiments") or []:
            state = (experiment.get("executor") or {}).get("state")  # or success, or None: finished
            state = state if state in UNFINISHED else None
            for revision in experiment["revs"]:
                name = revision.get("name") or experiment.get("name") or revision["rev"][:7]
                row.experiments.append(_row(f"  {name}", revision, base, state))
        table.append(row)
    return table


def sort(table: list[Row], key: str) -> None:
    """Sort each baseline's experiments in place: by name, or by an architecture's mean accuracy
    (best first; experiments without a result for it last, by name)."""
    archs = {arch for row in _lines(table) for arch in row.results}
    if key != "name" and key not in archs:
        known = ", ".join(["name", *sorted(archs)])
        raise StageError(f"--sort {key}: no architecture of that name in the table; use one of {known}")
    for row in table:
        if key == "name":
            row.experiments.sort(key=lambda line: line.name)
        else:
            row.experiments.sort(
                key=lambda line: (key not in line.results, -mean(line.results.get(key) or [0.0]), line.name)
            )


def _lines(table: list[Row]) -> Iterator[Row]:
    for row in table:
        yield row
        yield from row.experiments


# How a cell shows several seeds, widest first; the table takes the first that leaves the params
# column 12 characters. Mean and sample standard deviation; the last form drops "0" and the count.
STYLES = ("{mean:.4f} ± {std:.4f} (n={n})", "{mean:.4f}±{std:.4f} n={n}", "{mean_:s}±{std_:s}")


def cell(values: list[float], style: int = 0) -> str:
    """0.9614 for one seed; 0.9614 ± 0.0009 (n=5) for several (or a narrower style of STYLES)."""
    if len(values) == 1:
        return f"{values[0]:.4f}"
    average, spread = mean(values), stdev(values)
    short = {"mean_": f"{average:.4f}".removeprefix("0"), "std_": f"{spread:.4f}".removeprefix("0")}
    return STYLES[style].format(mean=average, std=spread, n=len(values), **short)


def format_table(table: list[Row]) -> str:
    """The rows as text: name, changed params (cut to fit), one accuracy column per architecture."""
    lines = list(_lines(table))
    archs = list(dict.fromkeys(arch for row in lines for arch in row.results))
    name_width = max([len("experiment"), *(len(row.name) for row in lines)])
    for style in range(len(STYLES)):
        cells = [{arch: cell(values, style) for arch, values in row.results.items()} for row in lines]
        widths = [max([len(arch), 6, *(len(found.get(arch, "")) for found in cells)]) for arch in archs]
        params_width = WIDTH - name_width - sum(width + 2 for width in widths) - 2
        if params_width >= 12:
            break
    params_width = max(params_width, 12)
    header = [f"{'experiment':<{name_width}}  {'changed params':<{params_width}}"]
    header += [f"  {arch:>{width}}" for arch, width in zip(archs, widths, strict=True)]
    out = ["".join(header).rstrip()]
    for row, found in zip(lines, cells, strict=True):
        text = ", ".join(
            f"{key}={json.dumps(value)}" if value is not None else key for key, value in row.changed.items()
        )
        text = text or "-"
        if len(text) > params_width:
            text = text[: params_width - 1] + "…"
        line = f"{row.name:<{name_width}}  {text:<{params_width}}"
        if row.state:
            line += f"  {row.state}"
        else:
            line += "".join(
                f"  {found.get(arch, ''):>{width}}" for arch, width in zip(archs, widths, strict=True)
            )
        out.append(line.rstrip())
    return "\n".join(out)


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    """Run `command`; `dvc` is the DVC beside this interpreter (none may be on PATH)."""
    run = (*DVC, *command[1:]) if command[0] == "dvc" else command
    return subprocess.run(run, capture_output=True, text=True, check=False)


def experiment_baselines() -> list[str]:
    """The commits any experiment started from (finished, queued or failed), read from git's refs
    in one call each: no commit's files are read."""
    found = []
    listed = _run("git", "for-each-ref", "--format=%(refname)", "refs/exps").stdout
    for ref in listed.split():
        if match := EXPERIMENT_REF.fullmatch(ref):
            found.append(match["head"] + match["tail"])
    for stash in STASHES:  # a missing stash makes git log fail with nothing on stdout
        found += STASH_MESSAGE.findall(_run("git", "log", "-g", "--format=%gs", stash, "--").stdout)
    return list(dict.fromkeys(found))


def show_command(all_baselines: bool, commits: int | None) -> list[str]:
    """`dvc exp show --json` for HEAD (and its last `commits`), or for HEAD and every commit that
    has experiments: one DVC call that reads only those commits, not all of them as -A does."""
    command = ["dvc", "exp", "show", "--json"]
    if commits is not None:
        command += ["--num", str(commits)]
    if all_baselines:
        command += [arg for rev in ["HEAD", *experiment_baselines()] for arg in ("--rev", rev)]
    return command


def load(command: list[str]) -> list[Row]:
    shown = _run(*command)
    if shown.returncode != 0:
        raise StageError(f"`{' '.join(command)}` failed: {shown.stderr.strip()}")
    try:
        return rows(json.loads(shown.stdout))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        start = shown.stdout[:80].replace("\n", " ")
        raise StageError(
            f"`{' '.join(command)}` printed what this table does not understand ({type(error).__name__}: "
            f"{error}; output starts {start!r}); it reads the JSON of DVC 3.67, as requirements.lock pins"
        ) from None


def mark_stale_workspace(table: list[Row]) -> None:
    """The workspace's metrics files are those of the last run that finished: after a failed or
    refused run (its params.yaml changed, its stages not rerun) they belong to other params, so
    its line says `stale` instead of them, as `dvc status` finds."""
    status = _run("dvc", "status", "--json")
    try:
        changed = bool(json.loads(status.stdout or "{}")) if status.returncode == 0 else False
    except ValueError:
        changed = False
    for row in table:
        if row.name == "workspace" and changed and row.state is None:
            row.results, row.state = {}, "stale"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.table", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--all", action="store_true", help="also the experiments of every other commit that has any"
    )
    parser.add_argument("--commits", type=int, metavar="N", help="the last N commits of HEAD and theirs")
    parser.add_argument(
        "--sort", metavar="ARCH|name", help="each commit's experiments by ARCH's mean accuracy, or by name"
    )
    args = parser.parse_args(argv)
    table = load(show_command(args.all, args.commits))
    mark_stale_workspace(table)
    if args.sort:
        sort(table, args.sort)
    print(format_table(table))
    sys.stdout.flush()  # a closed pipe raises here, inside the handler below, not at exit


if __name__ == "__main__":
    run_tool(main, "table")
