"""Run a named experiment: `python -m tools.experiment NAME` = `dvc exp run -n NAME -S ...`.

experiments/NAME.yaml holds only what differs from params.yaml: its keys replace the same keys
of params.yaml (mappings merge key by key), except `architectures`, which replaces the whole
mapping, so an experiment trains exactly the architectures it lists. The differences become
DVC's Hydra-style overrides (`key=value`, `+key=value` to add, `~key` to delete), so
`dvc exp show` lists the experiment, with its parameters, next to the default run.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from stages.common.params import ParamsError, read_yaml, validate
from stages.common.runner import StageError

REPLACED_WHOLE = ("architectures",)


def experiment_params(name: str, base: Path = Path("params.yaml")) -> dict[str, Any]:
    """params.yaml with experiments/NAME.yaml applied, validated like params.yaml itself."""
    path = Path("experiments") / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in Path("experiments").glob("*.yaml"))
        raise StageError(f"{path} not found; known experiments: {known}")
    params = _merge(read_yaml(base), read_yaml(path) or {}, top=True)
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
    """The `dvc exp run -S` overrides that turn `base` into `target`."""
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
    return yaml.safe_dump(value, default_flow_style=True).removesuffix("\n...\n").strip()


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
    if not args.dry and subprocess.run(command, check=False).returncode != 0:
        raise StageError(f"`dvc exp run -n {args.name}` failed (its output is above)")


if __name__ == "__main__":
    try:
        main()
    except (StageError, ParamsError) as error:
        raise SystemExit(f"experiment: error: {error}") from None
