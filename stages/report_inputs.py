"""The report's inputs: where each file lives, which stage writes it, and reading them safely.

Every path pattern is in `inputs` (and `stages.common.timing_log`), derived from an architecture's name.
A missing or malformed file raises a StageError naming the file and the `dvc repro` that
rebuilds it. The timing logs are untracked and optional: absent, the time shows as "n/a".
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import mlp
from mlp.arrays import FloatArray, IntArray
from stages.common import StageError, timing_log
from stages.data import N_CLASSES
from stages.report_markup import Image

PREPARED = Path("data/prepared")
HISTORY_COLUMNS = ("epoch", "loss", "train_loss", "test_loss", "train_accuracy", "test_accuracy")
METRICS_NUMBERS = ("accuracy", "loss", "n_samples", "macro_f1")
PER_CLASS_KEYS = {"precision", "recall", "f1", "support"}
TRAIN_NUMBERS = ("epochs", "n_parameters")


@dataclass(frozen=True)
class Source:
    path: Path
    stage: str  # the DVC stage that writes it


@dataclass
class ArchitectureResult:
    """What the report knows about one trained architecture."""

    name: str
    entry: dict[str, Any]  # its params.yaml entry: hidden_sizes and any overrides
    metrics: dict[str, Any]  # reports/metrics/NAME.json
    train: dict[str, Any]  # reports/train/NAME.json
    classification: str  # reports/classification/NAME.txt
    seconds: float | None  # from the untracked timing log, if any
    history: dict[str, FloatArray]  # column -> values per epoch
    first_layer: FloatArray  # (n_features, n_hidden)
    predicted: IntArray  # (n_test,) predicted classes
    confidence: FloatArray  # (n_test,) probability of the predicted class
    figures: list[Image] = field(default_factory=list)


def inputs(arch: str) -> dict[str, Source]:
    """Every file the report reads for one architecture, and the stage that writes it."""
    return {
        "model": Source(Path(f"data/models/{arch}.npz"), f"train@{arch}"),
        "history": Source(Path(f"reports/history/{arch}.csv"), f"train@{arch}"),
        "train": Source(Path(f"reports/train/{arch}.json"), f"train@{arch}"),
        "metrics": Source(Path(f"reports/metrics/{arch}.json"), f"evaluate@{arch}"),
        "classification": Source(Path(f"reports/classification/{arch}.txt"), f"evaluate@{arch}"),
    }


def check_inputs(architectures: list[str]) -> None:
    """Raise one StageError listing every missing input and the stage that builds it."""
    sources = [Source(PREPARED / f"{split}.npz", "prepare") for split in ("train", "test")]
    sources += [source for arch in architectures for source in inputs(arch).values()]
    missing = [source for source in sources if not source.path.is_file()]
    if len(missing) == 1:
        raise StageError(f"{missing[0].path} is missing; run `dvc repro {missing[0].stage}`")
    if missing:
        listing = "\n".join(f"  - {source.path} (run `dvc repro {source.stage}`)" for source in missing)
        raise StageError(f"{len(missing)} inputs are missing:\n{listing}")


def _broken(source: Source, problem: str) -> StageError:
    return StageError(f"{source.path} {problem}; rebuild it with `dvc repro --force {source.stage}`")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _read_json(source: Source, numbers: tuple[str, ...]) -> dict[str, Any]:
    """A JSON object that holds at least the numeric fields `numbers`."""
    try:
        data = json.loads(source.path.read_text(encoding="utf-8"))
    except ValueError as error:  # also UnicodeDecodeError and JSONDecodeError
        raise _broken(source, f"is not valid JSON ({error})") from None
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


def _read_history(source: Source) -> dict[str, FloatArray]:
    with source.path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    try:
        history = {column: np.array([float(row[column]) for row in rows]) for column in HISTORY_COLUMNS}
    except (KeyError, TypeError, ValueError) as error:  # a missing column, a short row, a non-number
        raise _broken(source, f"is not a history with columns {list(HISTORY_COLUMNS)} ({error!r})") from None
    if not rows:
        raise _broken(source, "holds no epochs")
    return history


def _read_seconds(arch: str) -> float | None:
    """The training time in seconds, or None when the log is absent or unreadable (a nicety)."""
    path = timing_log(arch)
    try:
        return float(json.loads(path.read_text(encoding="utf-8"))["seconds"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"report: ignoring {path} ({error!r}); training time shows as n/a", file=sys.stderr)
        return None


def load_architecture(
    name: str, entry: dict[str, Any], X_test: FloatArray, y_test: IntArray
) -> ArchitectureResult:
    """Read one architecture's files and score its model on the test set."""
    sources = inputs(name)
    try:
        model, _ = mlp.load_model(sources["model"].path)
    except mlp.ModelFileError as error:
        raise StageError(f"{error}; rebuild it with `dvc repro --force {sources['model'].stage}`") from None
    if model.n_features != X_test.shape[1]:
        raise _broken(
            sources["model"],
            f"expects {model.n_features} features, {PREPARED}/test.npz has {X_test.shape[1]}",
        )
    metrics = _read_json(sources["metrics"], METRICS_NUMBERS)
    _check_per_class(sources["metrics"], metrics.get("per_class"))
    predicted = model.predict(X_test)
    accuracy = float(np.mean(predicted == y_test))
    if abs(accuracy - metrics["accuracy"]) > 1e-6:  # metrics files round to 6 decimals
        model_path, metrics_path, stage = (
            sources["model"].path,
            sources["metrics"].path,
            sources["metrics"].stage,
        )
        raise StageError(
            f"{metrics_path} says test accuracy {metrics['accuracy']}, but {model_path} scores "
            f"{accuracy:.6f} on {PREPARED}/test.npz; run `dvc repro --force {stage}`"
        )
    probabilities = model.predict_proba(X_test)
    return ArchitectureResult(
        name=name,
        entry=entry,
        metrics=metrics,
        train=_read_json(sources["train"], TRAIN_NUMBERS),
        classification=sources["classification"].path.read_text(encoding="utf-8"),
        seconds=_read_seconds(name),
        history=_read_history(sources["history"]),
        first_layer=model.layers[0].W,
        predicted=predicted,
        confidence=probabilities[np.arange(len(predicted)), predicted],
    )
