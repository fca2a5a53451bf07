"""A small, correct and fast multilayer perceptron in NumPy.

The package knows nothing about the pipeline: it never reads params.yaml or the
command line, and every function takes plain values.

`from mlp import fit` works as usual, but each name is imported on first use (PEP 562), so a
program that needs a few modules (the pipeline's fetch stage needs only mlp.atomic and mlp.reading) neither
loads nor, in dvc.yaml, depends on the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same names, for type checkers
    from mlp.activations import ACTIVATIONS as ACTIVATIONS
    from mlp.contract import InputContract as InputContract
    from mlp.divergence import TrainingDivergedError as TrainingDivergedError
    from mlp.layers import INITIALIZERS as INITIALIZERS
    from mlp.layers import Dense as Dense
    from mlp.losses import softmax_cross_entropy as softmax_cross_entropy
    from mlp.memory import model_bytes as model_bytes
    from mlp.memory import training_bytes as training_bytes
    from mlp.model import MLP as MLP
    from mlp.optimizers import OPTIMIZERS as OPTIMIZERS
    from mlp.optimizers import SGD as SGD
    from mlp.optimizers import Adam as Adam
    from mlp.optimizers import Optimizer as Optimizer
    from mlp.optimizers import make_optimizer as make_optimizer
    from mlp.persistence import Classifier as Classifier
    from mlp.persistence import ModelFileError as ModelFileError
    from mlp.persistence import load_classifier as load_classifier
    from mlp.persistence import load_model as load_model
    from mlp.persistence import save_model as save_model
    from mlp.schedules import SCHEDULES as SCHEDULES
    from mlp.schedules import learning_rate_at as learning_rate_at
    from mlp.train import FitResult as FitResult
    from mlp.train import best_epoch as best_epoch
    from mlp.train import evaluate as evaluate
    from mlp.train import fit as fit

HOMES = {
    "ACTIVATIONS": "activations",
    "Adam": "optimizers",
    "Classifier": "persistence",
    "Dense": "layers",
    "FitResult": "train",
    "INITIALIZERS": "layers",
    "InputContract": "contract",
    "MLP": "model",
    "ModelFileError": "persistence",
    "OPTIMIZERS": "optimizers",
    "Optimizer": "optimizers",
    "SCHEDULES": "schedules",
    "SGD": "optimizers",
    "TrainingDivergedError": "divergence",
    "best_epoch": "train",
    "evaluate": "train",
    "fit": "train",
    "learning_rate_at": "schedules",
    "load_classifier": "persistence",
    "load_model": "persistence",
    "make_optimizer": "optimizers",
    "model_bytes": "memory",
    "save_model": "persistence",
    "softmax_cross_entropy": "losses",
    "training_bytes": "memory",
}
__all__ = sorted(HOMES)


def __getattr__(name: str) -> Any:
    if name not in HOMES:
        raise AttributeError(f"module 'mlp' has no attribute {name!r}")
    return getattr(importlib.import_module(f"mlp.{HOMES[name]}"), name)
