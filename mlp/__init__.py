"""A small, correct and fast multilayer perceptron in NumPy.

The package knows nothing about the pipeline: it never reads params.yaml or the
command line, and every function takes plain values.
"""

from mlp.activations import ACTIVATIONS
from mlp.contract import InputContract
from mlp.divergence import TrainingDivergedError
from mlp.layers import INITIALIZERS, Dense
from mlp.losses import softmax_cross_entropy
from mlp.memory import model_bytes, training_bytes
from mlp.model import MLP
from mlp.optimizers import OPTIMIZERS, SGD, Adam, Optimizer, make_optimizer
from mlp.persistence import Classifier, ModelFileError, load_classifier, load_model, save_model
from mlp.schedules import SCHEDULES, learning_rate_at
from mlp.train import FitResult, best_epoch, evaluate, fit

__all__ = [
    "ACTIVATIONS",
    "INITIALIZERS",
    "MLP",
    "OPTIMIZERS",
    "SCHEDULES",
    "SGD",
    "Adam",
    "Classifier",
    "Dense",
    "FitResult",
    "InputContract",
    "ModelFileError",
    "Optimizer",
    "TrainingDivergedError",
    "best_epoch",
    "evaluate",
    "fit",
    "learning_rate_at",
    "load_classifier",
    "load_model",
    "make_optimizer",
    "model_bytes",
    "save_model",
    "softmax_cross_entropy",
    "training_bytes",
]
