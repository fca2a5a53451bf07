"""The report's inputs: one file of each kind per run, at paths dvc.yaml's command names.

The report stage's command gives the path of each kind of file with `{run}` standing for the
run, e.g. `--models data/models/{run}.npz`; a run is one architecture trained with one seed,
named ARCH-SEED as in the DVC items train@ARCH-SEED and evaluate@ARCH-SEED. Nothing here re-computes what an
earlier stage wrote: predictions come from evaluate's CSV, and the model file is opened only
for its first-layer weights. A missing or malformed file raises a StageError naming the file
and the `dvc repro` that rebuilds it.
"""

from __future__ import annotations

import argparse
import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlp import ModelFileError, load_model
from mlp.arrays import FloatArray, IntArray
from mlp.reading import UnreadableFileError, read_bytes, read_json
from stages.common.mnist import N_CLASSES, N_FEATURES
from stages.common.params import architecture_settings, load_params
from stages.common.prepared import TEST, TRAIN, check_made_with, load_split
from stages.common.records import HISTORY_COLUMNS, MAX_FIELD_CHARS, PREDICTION_COLUMNS, RUN, run_pattern
from stages.common.runner import StageError, rebuild_hint
from stages.report.markup import Image

# kind of input -> the stage that writes it (its path pattern comes from the command line)
KINDS = {
    "models": "train",
    "history": "train",
    "train": "train",
    "metrics": "evaluate",
    "classes": "evaluate",
    "predictions": "evaluate",
    "classification": "evaluate",
}
METRICS_NUMBERS = ("accuracy", "accuracy_low", "accuracy_high", "loss")
PER_CLASS_KEYS = {"precision", "recall", "f1", "support"}
TRAIN_NUMBERS = ("n_parameters", "selected_epoch", "train_seconds")
MAX_TEXT_BYTES = 256 << 20  # a table of 100,000 epochs or 70,000 predictions is a few megabytes


@dataclass(frozen=True)
class Source:
    path: Path
    stage: str  # the DVC stage item that writes it, e.g. train@medium


@dataclass
class RunResult:
    """What the report knows about one run: one architecture trained with one seed."""

    name: str  # ARCH-SEED, as in the DVC items train@ARCH-SEED and evaluate@ARCH-SEED
    seed: int
    metrics: dict[str, Any]  # evaluate's metrics JSON: accuracy with its interval, loss, macro F1
    per_class: dict[str, dict[str, float]]  # evaluate's per-class scores: "0".."9" -> precision, ...
    macro_f1: float  # their mean F1, from the same file
    train: dict[str, Any]  # train's metrics JSON
    seconds: float  # training time, from the same file
    classification: str  # evaluate's classification report
    history: dict[str, FloatArray]  # column -> values per epoch
    first_layer: FloatArray  # (n_features, n_hidden)
    predicted: IntArray  # (n_test,) predicted classes
    confidence: FloatArray  # (n_test,) probability of the predicted class


@dataclass
class Architecture:
    """One architecture of params.yaml and its runs, one per seed in params.yaml's order.

    The first seed's run is the one the figures show and the paired tests compare.
    """

    name: str
    settings: dict[str, Any]  # params.yaml's train section with its own entry applied
    runs: list[RunResult]
    figures: list[Image] = field(default_factory=list)

    @property
    def chosen(self) -> RunResult:
        return self.runs[0]

    @property
    def accuracies(self) -> list[float]:
        return [run.metrics["accuracy"] for run in self.runs]


def sources(patterns: dict[str, str], run: str) -> dict[str, Source]:
    """Every file the report reads for one run (ARCH-SEED), and the stage item that writes it."""
    return {
        kind: Source(Path(patterns[kind].replace(RUN, run)), f"{stage}@{run}")
        for kind, stage in KINDS.items()
    }


def check_present(patterns: dict[str, str], architectures: list[str], seeds: list[int]) -> None:
    """Raise one StageError listing every missing input and the stage that builds it."""
    missing = [
        source
        for arch in architectures
        for seed in seeds
        for source in sources(patterns, run_name(arch, seed)).values()
        if not source.path.exists()  # what is there but is no file, the reader names
    ]
    if len(missing) == 1:
        raise StageError(f"{missing[0].path} is missing; run `dvc repro {missing[0].stage}`")
    if missing:
        listing = "\n".join(f"  - {source.path} (run `dvc repro {source.stage}`)" for source in missing)
        raise StageError(f"{len(missing)} inputs are missing:\n{listing}")


def run_name(arch: str, seed: int) -> str:
    """The name of a run in files and DVC items: ARCH-SEED."""
    return f"{arch}-{seed}"


def load_architecture(
    name: str,
    settings: dict[str, Any],
    seeds: list[int],
    patterns: dict[str, str],
    y_test: IntArray,
) -> Architecture:
    """Read the runs of one architecture, one per seed, given its settings in params.yaml."""
    runs = [
        load_run(run_name(name, seed), seed, patterns, y_test, settings | {"seed": seed}) for seed in seeds
    ]
    return Architecture(name, settings, runs)


def load_run(
    name: str, seed: int, patterns: dict[str, str], y_test: IntArray, settings: dict[str, Any]
) -> RunResult:
    """Read one run's files, checked against the prepared test labels and params.yaml's `settings`."""
    files = sources(patterns, name)
    classes = _read_json(files["classes"], ("macro_f1",))
    _check_per_class(files["classes"], classes.get("per_class"))
    predicted, confidence = _read_predictions(files["predictions"], y_test)
    train = _read_json(files["train"], TRAIN_NUMBERS)
    return RunResult(
        name=name,
        seed=seed,
        metrics=_read_json(files["metrics"], METRICS_NUMBERS),
        per_class=classes["per_class"],
        macro_f1=float(classes["macro_f1"]),
        train=train,
        seconds=float(train["train_seconds"]),
        classification=_read_text(files["classification"]),
        history=_read_history(files["history"]),
        first_layer=_read_first_layer(files["models"], settings),
        predicted=predicted,
        confidence=confidence,
    )


def _broken(source: Source, problem: str) -> StageError:
    return StageError(f"{source.path} {problem}; {rebuild_hint(source.stage)}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _read_json(source: Source, numbers: tuple[str, ...]) -> dict[str, Any]:
    """A JSON object that holds at least the numeric fields `numbers`."""
    try:
        data = read_json(source.path)
    except UnreadableFileError as error:  # not a file, not JSON, too deep, NaN
        raise _broken(source, str(error)) from None
    wrong = [key for key in numbers if not isinstance(data, dict) or not _is_number(data.get(key))]
    if wrong:
        raise _broken(source, f"lacks numbers for {wrong}")
    return data


def _check_per_class(source: Source, per_class: Any) -> None:
    """per_class must map "0".."9" to numeric precision, recall, f1 and support."""
    if (
        not isinstance(per_class, dict)
        or sorted(per_class) != sorted(map(str, range(N_CLASSES)))
        or not all(
            isinstance(scores, dict) and all(_is_number(scores.get(key)) for key in PER_CLASS_KEYS)
            for scores in per_class.values()
        )
    ):
        raise _broken(
            source, f"needs per_class scores {sorted(PER_CLASS_KEYS)} for classes 0..{N_CLASSES - 1}"
        )


def _read_text(source: Source) -> str:
    """A UTF-8 text file."""
    try:
        return read_bytes(source.path, MAX_TEXT_BYTES).decode("utf-8")
    except UnicodeDecodeError as error:
        raise _broken(source, f"is not UTF-8 text ({error})") from None
    except UnreadableFileError as error:
        raise _broken(source, str(error)) from None


def _read_columns(source: Source, columns: tuple[str, ...]) -> dict[str, FloatArray]:
    """The named numeric columns of a CSV file with a header row."""
    text = _read_text(source)
    limit = csv.field_size_limit(MAX_FIELD_CHARS)  # csv's bound is global: ours only for this read
    try:
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        table = {column: np.array([float(row[column]) for row in rows]) for column in columns}
    except csv.Error as error:  # a field over our bound, or a stray quote
        raise _broken(
            source, f"is not a table of ours ({error}; no field of ours is over {MAX_FIELD_CHARS} characters)"
        ) from None
    except (KeyError, TypeError, ValueError) as error:  # a missing column, a short row, a non-number
        raise _broken(source, f"is not a table with columns {list(columns)} ({error!r})") from None
    finally:
        csv.field_size_limit(limit)
    if not rows:
        raise _broken(source, "holds no rows")
    return table


def _read_history(source: Source) -> dict[str, FloatArray]:
    return _read_columns(source, HISTORY_COLUMNS)


def _read_predictions(source: Source, y_test: IntArray) -> tuple[IntArray, FloatArray]:
    """Predicted classes and their probabilities, for the very test set that prepare wrote."""
    table = _read_columns(source, PREDICTION_COLUMNS)
    actual, predicted, probability = (table[column] for column in PREDICTION_COLUMNS)
    if len(actual) != len(y_test) or not np.array_equal(actual, y_test):
        raise _broken(source, "does not match the prepared test set's labels (written from other data?)")
    if not np.isin(predicted, np.arange(N_CLASSES)).all():
        raise _broken(source, f"holds predicted classes outside 0..{N_CLASSES - 1}")
    if not ((probability >= 0) & (probability <= 1)).all():
        raise _broken(source, "holds probabilities outside [0, 1]")
    return predicted.astype(np.int64), probability


def _read_first_layer(source: Source, settings: dict[str, Any]) -> FloatArray:
    """The model's first-layer weights (n_features, n_hidden): the one thing only the model has.

    The model file also records the settings it was trained with. The report refuses a model
    that params.yaml no longer describes: DVC reads params.yaml after a stage ends, so an edit
    in that moment could otherwise pair an old model with new params in dvc.lock.
    """
    try:
        model, metadata = load_model(source.path)
    except ModelFileError as error:
        raise StageError(f"{error}; {rebuild_hint(source.stage)}") from None
    trained = metadata.get("settings", {}) if isinstance(metadata, dict) else {}
    if not isinstance(trained, dict):
        raise _broken(source, f"records settings of type {type(trained).__name__}, not an object of them")
    differ = sorted(key for key in set(settings) | set(trained) if trained.get(key) != settings.get(key))
    if differ:
        said = ", ".join(
            f"{key}: {trained.get(key)!r} (params.yaml: {settings.get(key)!r})" for key in differ[:4]
        )
        raise _broken(source, f"was trained with other settings than params.yaml gives it ({said})")
    if model.n_features != N_FEATURES:
        raise _broken(source, f"expects {model.n_features} input features, MNIST has {N_FEATURES}")
    return model.layers[0].W


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options naming what the figures and report stages read."""
    parser.add_argument("--prepared", type=Path, required=True, help="prepare's folder, e.g. data/prepared")
    for kind, stage in KINDS.items():
        parser.add_argument(
            f"--{kind}", required=True, help=f"{stage}'s {kind} file, with {RUN} for ARCH-SEED"
        )


@dataclass
class Inputs:
    params: dict[str, Any]
    architectures: list[Architecture]
    X_train: FloatArray
    y_train: IntArray
    X_test: FloatArray
    y_test: IntArray


def load_inputs(args: argparse.Namespace) -> Inputs:
    """Everything the options of `add_arguments` name, checked, for params.yaml's runs."""
    patterns = {kind: run_pattern(kind, getattr(args, kind)) for kind in KINDS}
    params = load_params()
    check_present(patterns, list(params["architectures"]), params["seeds"])
    check_made_with(args.prepared, params["prepare"])
    X_train, y_train = load_split(args.prepared, TRAIN)
    X_test, y_test = load_split(args.prepared, TEST)
    architectures = [
        load_architecture(name, architecture_settings(params, name), params["seeds"], patterns, y_test)
        for name in params["architectures"]
    ]
    return Inputs(params, architectures, X_train, y_train, X_test, y_test)
