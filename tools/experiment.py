"""Run a named experiment: `python -m tools.experiment NAME` = `dvc exp run -n NAME -S ...`.

experiments/NAME.yaml holds only what differs from params.yaml: its keys replace the same keys
of params.yaml (mappings merge key by key), except `architectures`, which replaces the whole
mapping, so an experiment trains exactly the architectures it lists. The differences become
DVC's Hydra-style overrides (`key=value`, `+key=value` to add, `~key` to delete), so
`dvc exp show` lists the experiment, with its parameters, next to the default run.

After a workspace run, experiments/results/NAME.json records its params, each run's metrics,
and when, how long and on what machine (with the load average, since the machine may be
shared): the file the README's tables are generated from (tools/readme.py).
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import shlex
import statistics
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlp.reading import UnreadableFileError, read_json
from stages.common.output import write_json
from stages.common.params import ParamsError, read_yaml, validate
from stages.common.params_core import SAFE_NAME
from stages.common.runner import StageError
from stages.common.significance import holm, rank_sum_exact
from tools.dvc_repo import DVC
from tools.entry import run_tool
from tools.machine import machine_facts

REPLACED_WHOLE = ("architectures",)
RESULTS = Path("experiments/results")
METRICS_FOLDERS = ("reports/metrics", "reports/train")


def experiment_params(name: str, base: Path = Path("params.yaml")) -> dict[str, Any]:
    """params.yaml with experiments/NAME.yaml applied, validated like params.yaml itself. NAME is
    a plain file name in experiments/ (`../params` is refused), and the file holds a mapping."""
    path = Path("experiments") / f"{name}.yaml"
    known = sorted(p.stem for p in Path("experiments").glob("*.yaml"))
    if not SAFE_NAME.fullmatch(name):
        raise StageError(f"{name!r} is no experiment name (a file in experiments/, less .yaml): {known}")
    if not (path.exists() or path.is_symlink()):  # a FIFO: read_yaml says what it is
        raise StageError(f"{path} not found; known experiments: {known}")
    changes = read_yaml(path)
    if not isinstance(changes, dict | None):
        raise StageError(
            f"{path} holds a {type(changes).__name__}, not a mapping; write only the keys that differ "
            "from params.yaml, as in params.yaml (`train:` then `  epochs: 20`)"
        )
    params = _merge(read_yaml(base), changes or {}, top=True)
    problems = validate(params)
    if problems:
        raise ParamsError(f"{path} gives invalid parameters:\n" + "\n".join(f"  - {p}" for p in problems))
    return params


def _merge(base: dict[str, Any], changes: dict[str, Any], top: bool = False) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        keep_merging = isinstance(value, dict) and isinstance(base.get(key), dict)
        replace = not keep_merging or (top and key in REPLACED_WHOLE)
        merged[key] = value if replace else _merge(base[key], value)
    return merged


def overrides(base: dict[str, Any], target: dict[str, Any], prefix: str = "") -> list[str]:
    """The `dvc exp run -S` overrides that turn `base` into `target` (check refuses architecture
    names, like `2layer`, that Hydra cannot name in such a path)."""
    flags = [f"~{prefix}{key}" for key in base if key not in target]
    for key, value in target.items():
        if key not in base:
            flags.append(f"+{prefix}{key}={_hydra(value)}")
        elif isinstance(value, dict) and isinstance(base[key], dict):
            flags += overrides(base[key], value, f"{prefix}{key}.")
        elif value != base[key]:
            flags.append(f"{prefix}{key}={_hydra(value)}")
    return flags


def _hydra(value: Any) -> str:
    """A value in Hydra's override grammar (flow-style YAML with unquoted keys)."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{key}:{_hydra(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_hydra(item) for item in value) + "]"
    return value if isinstance(value, str) else json.dumps(value)  # null, true, 0.1 as YAML 1.2 reads them


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.experiment", description=__doc__.splitlines()[0])
    parser.add_argument("name", help="an experiment in experiments/, e.g. full-mnist")
    parser.add_argument("--dry", action="store_true", help="print the dvc command instead of running it")
    parser.add_argument("--temp", action="store_true", help="run in a temporary folder (dvc exp run --temp)")
    args = parser.parse_args(argv)

    base = read_yaml("params.yaml")
    flags = overrides(base, experiment_params(args.name))
    command = ["dvc", "exp", "run", "-n", args.name, *(["--temp"] if args.temp else [])]
    command += [part for flag in flags for part in ("-S", flag)]
    print(shlex.join(command), flush=True)
    if args.dry:
        return
    started, machine = time.time(), machine_facts()
    if subprocess.run([*DVC, *command[1:]], check=False).returncode != 0:  # no `dvc` on PATH needed
        raise StageError(f"`dvc exp run -n {args.name}` failed (its output is above)")
    if not args.temp:  # a --temp run leaves its results in DVC's experiment ref only
        path = RESULTS / f"{args.name}.json"
        write_json(path, result(args.name, read_yaml("params.yaml"), started, machine))
        print(f"experiment: wrote {path}; commit it with the run")


def result(name: str, params: dict[str, Any], started: float, machine: dict[str, Any]) -> dict[str, Any]:
    """The experiment's params, each run's metrics (test, training, time), when and where."""
    runs = {
        f"{arch}-{seed}": {
            key: value
            for folder in METRICS_FOLDERS
            for key, value in _metrics(Path(folder) / f"{arch}-{seed}.json")
        }
        for arch in params["architectures"]
        for seed in params["seeds"]
    }
    machine = machine | {"load_average_at_end": [round(x, 2) for x in os.getloadavg()]}
    when = datetime.datetime.fromtimestamp(started, datetime.UTC).isoformat(timespec="seconds")
    return {
        "experiment": name,
        "params": params,
        "runs": runs,
        **({"seeds": seed_statistics(params, runs)} if len(params["seeds"]) > 1 else {}),
        "started": when,
        "seconds": round(time.time() - started),
        "machine": machine,
    }


def seed_statistics(params: dict[str, Any], runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What the seeds say, recorded with the runs (the README prints it, never computes it): each
    architecture's test accuracy over the seeds (mean, sample std, n), and each pair's exact
    rank-sum test over the seeds, Holm-corrected."""
    accuracies = {
        arch: [runs[f"{arch}-{seed}"]["accuracy"] for seed in params["seeds"]]
        for arch in params["architectures"]
    }
    pairs = list(itertools.combinations(accuracies, 2))
    p_values = holm([rank_sum_exact(accuracies[a], accuracies[b]) for a, b in pairs])
    return {
        "accuracy": {
            arch: {"mean": round(statistics.mean(v), 6), "std": round(statistics.stdev(v), 6), "n": len(v)}
            for arch, v in accuracies.items()
        },
        "rank_sum_holm_p": {f"{a}–{b}": round(p, 6) for (a, b), p in zip(pairs, p_values, strict=True)},
    }


def _metrics(path: Path) -> list[tuple[str, Any]]:
    """The items of a metrics file the run wrote, read as a bounded regular JSON file (mlp.reading)."""
    try:
        metrics = read_json(path)
    except (OSError, UnreadableFileError) as error:
        said = f"cannot be read ({error.strerror})" if isinstance(error, OSError) else str(error)
        raise StageError(f"{path} {said}; `dvc repro` writes it again, then run this again") from None
    if not isinstance(metrics, dict):
        raise StageError(
            f"{path} holds a {type(metrics).__name__}, not an object; `dvc repro` writes it again"
        )
    return list(metrics.items())


if __name__ == "__main__":
    run_tool(main, "experiment")
