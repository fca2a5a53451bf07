"""Publish stage: the trained models' weights for the report page's drawing pad.

Usage (from dvc.yaml): python -m stages.publish --models data/models/{run}.npz --pad FILE

Each architecture's first-seed model, with its input contract, goes into one JavaScript file that
the report page's pad loads (`window.PAD_MODELS`; arrays as base64 of little-endian float32). It
is a DVC-cached output: git does not carry megabytes of weights.
"""

from __future__ import annotations

import argparse
import base64
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlp import ModelFileError, load_classifier
from stages.common.output import write_text
from stages.common.params import load_params
from stages.common.records import RUN, run_pattern
from stages.common.runner import StageError, rebuild_hint, run_stage


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
    args = parser.parse_args(argv)

    params = load_params(reads=lambda p: (list(p["architectures"]), p["seeds"]))
    architectures, seeds = list(params["architectures"]), params["seeds"]
    models = pad_models(architectures, seeds[0], run_pattern("models", args.models))
    write_text(args.pad, f"window.PAD_MODELS = {json.dumps(models)};\n")
    print(f"publish: the drawing pad's weights ({len(models)} models) in {args.pad}")


if __name__ == "__main__":
    run_stage(main, "publish")
