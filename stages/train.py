"""Train stage: one MLP per architecture -> model file, per-epoch history and training metrics.

Usage (from dvc.yaml): python -m stages.train ARCH PREPARED MODEL HISTORY METRICS
Hyper-parameters are the `train` section with `architectures.ARCH` overriding any of them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

import mlp
from mlp.arrays import FloatArray, IntArray
from mlp.augment import random_shifts
from stages.common import (
    EpochProgress,
    StageError,
    make_parent,
    run_stage,
    timing_log,
    write_csv,
    write_json,
)
from stages.data import N_CLASSES, load_split
from stages.params import architecture_settings, load_params

IMAGE_SIDE = 28  # MNIST images are stored as rows of 28 * 28 pixels


def train_model(
    X_train: FloatArray,
    y_train: IntArray,
    eval_sets: Mapping[str, tuple[FloatArray, IntArray]],
    settings: dict[str, Any],
    label: str,
) -> tuple[mlp.MLP, list[dict[str, float]]]:
    """Build and fit the MLP that `settings` (train section + overrides) describe.

    With a "val" set among `eval_sets`, the model keeps the weights of the epoch with the
    best validation accuracy; the test set is only ever watched, never used to choose.
    """
    if settings["batch_size"] > len(X_train):
        raise StageError(
            f"train.batch_size {settings['batch_size']} is larger than the {len(X_train)} training samples; "
            f"set it to at most {len(X_train)}"
        )
    rng = np.random.default_rng(settings["seed"])
    model = mlp.MLP(
        [X_train.shape[1], *settings["hidden_sizes"], N_CLASSES],
        rng,
        activation=settings["activation"],
        init=settings["init"],
        dropout=settings["dropout"],
    )
    optimizer = mlp.make_optimizer(
        settings["optimizer"], model.parameters(), settings["learning_rate"], momentum=settings["momentum"]
    )
    with threadpool_limits(limits=settings["threads"], user_api="blas"):
        history = mlp.fit(
            model,
            X_train,
            y_train,
            optimizer=optimizer,
            rng=rng,
            epochs=settings["epochs"],
            batch_size=settings["batch_size"],
            weight_decay=settings["weight_decay"],
            schedule=settings["schedule"],
            step_size=settings["step_size"],
            gamma=settings["gamma"],
            eval_sets=eval_sets,
            augment=random_shifts(IMAGE_SIDE, settings["shift_pixels"]) if settings["shift_pixels"] else None,
            select_best="val" if "val" in eval_sets else None,
            on_epoch=EpochProgress(settings["epochs"], label),
        )
    return model, history


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("arch", "prepared", "model", "history", "metrics"):
        parser.add_argument(name)
    args = parser.parse_args(argv)

    settings = architecture_settings(load_params(), args.arch)
    X_train, y_train = load_split(args.prepared, "train")
    eval_sets = {"train": (X_train, y_train)}
    if (Path(args.prepared) / "val.npz").exists():
        eval_sets["val"] = load_split(args.prepared, "val")
    eval_sets["test"] = load_split(args.prepared, "test")
    started = time.perf_counter()
    model, history = train_model(X_train, y_train, eval_sets, settings, f"train@{args.arch}")
    seconds = time.perf_counter() - started

    make_parent(args.model)
    mlp.save_model(model, args.model, metadata={"architecture": args.arch, "settings": settings})
    write_csv(args.history, list(history[0]), history)
    selected_epoch = _selected_epoch(history)
    kept = history[selected_epoch - 1]  # the epoch whose weights were saved
    write_json(
        args.metrics,
        {
            "epochs": settings["epochs"],
            "n_parameters": model.n_parameters,
            "selected_epoch": selected_epoch,
            "train_loss": kept["train_loss"],
            "train_accuracy": kept["train_accuracy"],
        },
    )
    _log_timing(args.arch, seconds)
    print(
        f"train@{args.arch}: {model.n_parameters} parameters, {settings['epochs']} epochs "
        f"in {seconds:.1f} s, kept epoch {selected_epoch}: train accuracy {kept['train_accuracy']:.4f}, "
        f"test accuracy {kept['test_accuracy']:.4f}"
    )


def _selected_epoch(history: list[dict[str, float]]) -> int:
    """The epoch whose weights were kept: the best on validation (as fit chose), else the last."""
    return mlp.best_epoch(history, "val") if "val_accuracy" in history[0] else len(history)


def _log_timing(arch: str, seconds: float) -> None:
    """Keep the training time in the untracked timing log, for the report."""
    path = timing_log(arch)
    try:
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps({"seconds": round(seconds, 2)}) + "\n")
    except OSError as error:  # a timing log is a nicety; never fail a finished training for it
        print(f"train@{arch}: could not write {path} ({error})", file=sys.stderr)


if __name__ == "__main__":
    run_stage(main, "train")
