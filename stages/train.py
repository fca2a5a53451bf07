"""Train stage: one MLP per architecture -> model file, per-epoch history and the run's facts.

Usage (from dvc.yaml): python -m stages.train ARCH SEED PREPARED MODEL HISTORY FACTS
Hyper-parameters are the `train` section with `architectures.ARCH` overriding any of them;
SEED (one of params.yaml's `seeds`) seeds initialisation, shuffling, dropout and augmentation.
FACTS holds the parameter count, the kept epoch, the kept model's accuracy on the whole training
set (the history's train_accuracy is a running figure over each epoch's batches) and the training time,
cached beside the model it describes, so DVC restores them together; for its time, it is the one
output whose bytes change on a forced rerun.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from mlp import MLP, FitResult, TrainingDivergedError, evaluate, fit, make_optimizer, save_model
from mlp.arrays import FloatArray, IntArray
from mlp.augment import elastic_distortions, random_shifts
from mlp.optimizers import HYPERPARAMETERS
from mlp.train import Augment
from stages.common.mnist import IMAGE_SIDE, N_CLASSES
from stages.common.output import open_output, write_csv, write_json
from stages.common.params import architecture_settings, load_params
from stages.common.prepared import TRAIN, VALIDATION, check_made_with, load_contract, load_split, splits
from stages.common.progress import EpochProgress, LiveHistory
from stages.common.runner import StageError, run_stage

LIVE = Path("live")  # untracked: each running item's history so far (dvc.yaml's `live` plot)


def train_model(
    X_train: FloatArray,
    y_train: IntArray,
    eval_sets: Mapping[str, tuple[FloatArray, IntArray]],
    settings: dict[str, Any],
    label: str,
    live: Path | None = None,
) -> tuple[MLP, FitResult]:
    """Build and fit the MLP that `settings` (train section + overrides) describe.

    With a validation set among `eval_sets`, the model keeps the weights of the epoch with
    the best validation accuracy; the test set is only ever watched, never used to choose.
    """
    rng = np.random.default_rng(settings["seed"])
    model = MLP(
        [X_train.shape[1], *settings["hidden_sizes"], N_CLASSES],
        rng,
        activation=settings["activation"],
        init=settings["init"],
        dropout=settings["dropout"],
    )
    hyperparameters = {
        key: settings[key] for key in HYPERPARAMETERS & settings.keys()
    }  # the optimizer picks its own
    optimizer = make_optimizer(
        settings["optimizer"], model.parameters(), settings["learning_rate"], **hyperparameters
    )
    progress = EpochProgress(settings["epochs"], label)
    # The live file goes when training ends, however it ends: then the tracked history holds it all.
    history = LiveHistory(live) if live is not None else None

    def on_epoch(record: Mapping[str, float]) -> None:
        progress(record)
        if history is not None:
            history(record)

    with (
        threadpool_limits(limits=settings["threads"], user_api="blas"),
        _diverged_as_stage_error(),
        history or contextlib.nullcontext(),
    ):
        result = fit(
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
            augment=augmenter(settings),
            select_best=VALIDATION if VALIDATION in eval_sets else None,
            on_epoch=on_epoch,
        )
    return model, result


def augmenter(settings: Mapping[str, Any]) -> Augment | None:
    """The training batches' augmentation `settings` ask for: shifts, then elastic distortions."""
    steps = []
    if settings["shift_pixels"]:
        steps.append(random_shifts(IMAGE_SIDE, settings["shift_pixels"]))
    if settings["elastic_alpha"] or settings["rotate_degrees"]:
        steps.append(
            elastic_distortions(
                IMAGE_SIDE, settings["elastic_alpha"], settings["elastic_sigma"], settings["rotate_degrees"]
            )
        )
    if len(steps) < 2:
        return steps[0] if steps else None
    shift, distort = steps
    return lambda X, rng: distort(shift(X, rng), rng)


@contextlib.contextmanager
def _diverged_as_stage_error() -> Iterator[None]:
    """A diverged run is an expected failure: one message (mlp's), no traceback."""
    try:
        yield
    except TrainingDivergedError as error:
        raise StageError(str(error)) from None


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("arch", help="an architecture of params.yaml")
    parser.add_argument("seed", type=int, help="the seed of this run, one of params.yaml's seeds")
    parser.add_argument("prepared", help="prepare's folder, e.g. data/prepared")
    parser.add_argument("model", help="output: the model file (.npz)")
    parser.add_argument("history", help="output: loss and accuracy per epoch (CSV)")
    parser.add_argument(
        "facts", help="output: parameters, the kept epoch, its training accuracy and the training time (JSON)"
    )
    args = parser.parse_args(argv)

    # Outputs are refused if what it uses changes meanwhile; edits elsewhere in the file are fine.
    params = load_params(
        reads=lambda p: (p["train"], p["architectures"].get(args.arch), p["prepare"]["validation_size"])
    )
    # The seed comes with the command (dvc.yaml's matrix over params.yaml's seeds), so adding a
    # seed to params.yaml changes no other run's inputs.
    settings = architecture_settings(params, args.arch) | {"seed": args.seed}
    item = f"{args.arch}-{args.seed}"  # the DVC stage item: train@ARCH-SEED
    # Evaluated every epoch in this order: [val], test (the history's column order, after fit's
    # own train_loss and train_accuracy, taken from the batches).
    # data/prepared.json is read for this check only, so dvc.yaml does not make it a dependency:
    # a prepare change that leaves the arrays as they were retrains nothing.
    check_made_with(args.prepared, params["prepare"], keys=("validation_size",))
    X_train, y_train = load_split(args.prepared, TRAIN)
    eval_sets = {
        split: load_split(args.prepared, split)
        for split in splits(params["prepare"]["validation_size"])
        if split != TRAIN
    }
    started = time.perf_counter()
    model, result = train_model(X_train, y_train, eval_sets, settings, f"train@{item}", LIVE / f"{item}.csv")
    seconds = time.perf_counter() - started
    train_accuracy = evaluate(model, X_train, y_train, set_name=TRAIN)["accuracy"]

    with open_output(args.model, "wb") as handle:
        save_model(
            model,
            handle,
            metadata={"architecture": args.arch, "settings": settings},
            contract=load_contract(args.prepared),
        )
    write_csv(args.history, list(result.history[0]), result.history)
    kept = result.kept
    write_json(
        args.facts,
        {
            "n_parameters": model.n_parameters,
            "selected_epoch": result.kept_epoch,
            "train_accuracy": train_accuracy,
            "train_seconds": round(seconds, 1),
        },
    )
    print(
        f"train@{item}: {model.n_parameters} parameters, {settings['epochs']} epochs "
        f"in {seconds:.1f} s, kept epoch {result.kept_epoch}: train accuracy {train_accuracy:.4f}, "
        f"test accuracy {kept['test_accuracy']:.4f}"
    )


if __name__ == "__main__":
    run_stage(main, "train")
