"""Register stage: every trained model declared as a DVC artifact, for DVC's model registry.

Usage (from dvc.yaml): python -m stages.register --models data/models/{run}.npz --registry dvc.yaml

Every run's model (params.yaml's architectures times its seeds) is declared in the `artifacts:`
section of dvc.yaml: type model, named like its run (`medium-42`), labelled with its architecture
and seed, so that `dvc artifacts get URL medium-42` fetches a tagged version. DVC expands stages
with `matrix` but not artifacts, so this stage writes them from params.yaml (only the artifacts
that are its models, and only when they changed; artifacts declared by hand stay): adding an
architecture or a seed needs no edit by hand. dvc.yaml is not a declared output (DVC forbids
that); `git diff dvc.yaml` shows the change. The stage has no outputs, so DVC's run-cache never
stands in for it: whenever architectures or seeds change, back to earlier values too, it runs.
"""

from __future__ import annotations

import argparse
import io
import re
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from mlp.reading import UnreadableFileError, read_bytes
from stages.common.output import write_text
from stages.common.params import load_params
from stages.common.params_core import parse_yaml
from stages.common.records import RUN, run_pattern
from stages.common.runner import StageError, run_stage

MAX_REGISTRY_BYTES = 16 << 20  # dvc.yaml: a few kilobytes


def artifacts(architectures: Sequence[str], seeds: Sequence[int], models: str) -> dict[str, Any]:
    """dvc.yaml's artifacts section: one model per run, named ARCH-SEED."""
    return {
        f"{arch}-{seed}": {
            "path": models.replace(RUN, f"{arch}-{seed}"),
            "type": "model",
            "desc": f"MNIST digit classifier: NumPy MLP '{arch}', seed {seed} (train@{arch}-{seed}); "
            "use: python -m tools.predict IMAGE --model FILE",
            "labels": ["mnist", "mlp", f"architecture-{arch}", f"seed-{seed}"],
        }
        for arch in architectures
        for seed in seeds
    }


def owned(artifacts: dict[str, Any], models: str) -> dict[str, Any]:
    """The artifacts this stage writes: those whose path matches `models`, {run} standing for any run."""
    ours = re.compile(re.escape(models).replace(re.escape(RUN), ".+"))
    return {name: value for name, value in artifacts.items() if ours.fullmatch(str(value.get("path", "")))}


def models_pattern(dvc_yaml: dict[str, Any]) -> str:
    """The --models pattern of the register stage's command in a parsed dvc.yaml."""
    words = shlex.split(dvc_yaml["stages"]["register"]["cmd"])
    return words[words.index("--models") + 1]


ARTIFACTS_LINE = re.compile(r"^artifacts:[ \t]*(#.*)?$", re.MULTILINE)
TOP_LEVEL_LINE = re.compile(r"^[^\s#]", re.MULTILINE)


def register(registry: Path, section: dict[str, Any], models: str) -> bool:
    """Make `registry`'s artifacts that are files matching `models` those of `section`, keeping
    every other artifact; returns whether the file changed. Only the top-level `artifacts:`
    block is rewritten: every other line of dvc.yaml keeps its bytes (a YAML round trip would
    rewrap the hand-wrapped commands)."""
    fix = f"put back the committed one (git checkout {registry})"
    try:
        text = read_bytes(registry, MAX_REGISTRY_BYTES).decode("utf-8")
        current = (parse_yaml(text) or {}).get("artifacts") or {}  # nested past the bound: refused
    except UnreadableFileError as error:
        raise StageError(f"{registry} {error}; {fix}") from None
    except UnicodeDecodeError as error:
        raise StageError(f"{registry} is not UTF-8 text ({error}); {fix}") from None
    stale = owned(current, models)
    if stale == section:
        return False
    artifacts = {name: value for name, value in current.items() if name not in stale} | section
    found = ARTIFACTS_LINE.search(text)
    if found:
        after = TOP_LEVEL_LINE.search(text, found.end())
        head, tail = text[: found.start()], text[after.start() :] if after else ""
    else:
        head, tail = text if text.endswith("\n") else text + "\n", ""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    yaml.width = 110
    buffer = io.StringIO()
    if artifacts:
        yaml.dump({"artifacts": artifacts}, buffer)
    write_text(registry, head + buffer.getvalue() + tail)
    return True


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.register", description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", required=True, help=f"train's model files, with {RUN} for ARCH-SEED")
    parser.add_argument("--registry", type=Path, required=True, help="the dvc.yaml whose artifacts to write")
    args = parser.parse_args(argv)
    models = run_pattern("models", args.models)

    params = load_params(reads=lambda p: (list(p["architectures"]), p["seeds"]))
    architectures, seeds = list(params["architectures"]), params["seeds"]
    changed = register(args.registry, artifacts(architectures, seeds, models), models)
    print(
        f"register: {len(architectures) * len(seeds)} models declared as DVC artifacts in {args.registry}"
        f"{' (updated)' if changed else ' (as they were)'}"
    )


if __name__ == "__main__":
    run_stage(main, "register")
