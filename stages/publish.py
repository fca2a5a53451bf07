"""Publish stage: the trained models, made usable outside the pipeline.

Usage (from dvc.yaml): python -m stages.publish --models data/models/{run}.npz --pad FILE --registry dvc.yaml

- The model registry. Every run's model (params.yaml's architectures times its seeds) is declared
  in the `artifacts:` section of dvc.yaml: type model, named like its run (`medium-42`), labelled
  with its architecture and seed, so that `dvc artifacts get URL medium-42` fetches it. DVC
  expands stages with `matrix` but not artifacts, so this stage writes that section from
  params.yaml (only the artifacts that are its models, and only when they changed; artifacts
  declared by hand stay): adding an architecture or a seed needs no edit by hand. dvc.yaml is not
  a declared output (DVC forbids that); `git diff dvc.yaml` shows the change.
- The drawing pad. Each architecture's first-seed model, with its input contract, goes into one
  JavaScript file that the report page's pad loads (`window.PAD_MODELS`; arrays as base64 of
  little-endian float32). It is a DVC-cached output: git does not carry megabytes of weights.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import re
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ruamel.yaml import YAML

from mlp import ModelFileError, load_classifier
from stages.common.output import write_text
from stages.common.params import load_params
from stages.common.runner import StageError, rebuild_hint, run_stage

RUN = "{run}"


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
    """The --models pattern of the publish stage's command in a parsed dvc.yaml."""
    words = shlex.split(dvc_yaml["stages"]["publish"]["cmd"])
    return words[words.index("--models") + 1]


def register(registry: Path, section: dict[str, Any], models: str) -> bool:
    """Make `registry`'s artifacts that are files matching `models` those of `section`, keeping
    every other artifact, the rest of the file and its comments as they were; returns whether
    the file changed."""
    yaml = YAML()  # round-trip: comments and order stay
    yaml.width = 110
    document = yaml.load(registry.read_text(encoding="utf-8"))
    artifacts = document.get("artifacts") or {}
    stale = owned(artifacts, models)
    if stale == section:
        return False
    for name in stale:
        del artifacts[name]
    artifacts.update(section)
    if artifacts:
        document["artifacts"] = artifacts
    else:
        document.pop("artifacts", None)
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    write_text(registry, buffer.getvalue())
    return True


def pad_models(architectures: Sequence[str], seed: int, models: str) -> list[dict[str, Any]]:
    """What the drawing pad needs of each architecture's model of `seed`: layers, activation, contract."""
    described = []
    for arch in architectures:
        run = f"{arch}-{seed}"
        try:
            classifier = load_classifier(models.replace(RUN, run))
        except ModelFileError as error:
            raise StageError(f"{error}; {rebuild_hint(f'train@{run}')}") from None
        model, contract = classifier.model, classifier.contract
        described.append(
            {
                "architecture": arch,
                "run": run,
                "activation": model.activation,
                "layers": [
                    {
                        "fan_in": layer.W.shape[0],
                        "fan_out": layer.W.shape[1],
                        "W": _b64(layer.W),
                        "b": _b64(layer.b),
                    }
                    for layer in model.layers
                ],
                "shape": list(contract.shape),
                "labels": list(contract.labels),
                "mean": _b64(contract.mean),
                "std": _b64(contract.std),
            }
        )
    return described


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode("ascii")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.publish", description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", required=True, help=f"train's model files, with {RUN} for ARCH-SEED")
    parser.add_argument(
        "--pad", type=Path, required=True, help="output: the drawing pad's weights (JavaScript)"
    )
    parser.add_argument("--registry", type=Path, required=True, help="the dvc.yaml whose artifacts to write")
    args = parser.parse_args(argv)

    params = load_params(reads=lambda p: (list(p["architectures"]), p["seeds"]))
    architectures, seeds = list(params["architectures"]), params["seeds"]
    models = pad_models(architectures, seeds[0], args.models)
    write_text(args.pad, f"window.PAD_MODELS = {json.dumps(models)};\n")
    changed = register(args.registry, artifacts(architectures, seeds, args.models), args.models)
    print(
        f"publish: {len(architectures) * len(seeds)} models declared as DVC artifacts in {args.registry}"
        f"{' (updated)' if changed else ''}; the drawing pad's weights ({len(models)} models) in {args.pad}"
    )


if __name__ == "__main__":
    run_stage(main, "publish")
