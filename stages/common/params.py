"""The rules of params.yaml's train, architectures and seeds sections, and the whole file's check.

The train rules name the library's tables (activations, optimizers, ...) and its size limits,
so this module imports mlp; reading and the prepare rules live in stages.common.params_core.
"""

from __future__ import annotations

import functools
import math
import os
import re
from typing import Any

import numpy as np

from mlp import ACTIVATIONS, INITIALIZERS, OPTIMIZERS, SCHEDULES
from mlp.memory import DEFAULT_MAX_BYTES, GIB, n_parameters, training_bytes
from mlp.optimizers import HYPERPARAMETERS
from mlp.persistence import MAX_LAYERS, MAX_MODEL_BYTES
from stages.common.mnist import N_CLASSES, N_FEATURES, N_TRAIN
from stages.common.params_core import (
    _SHORT,
    PREPARE_SCHEMA,
    Check,
    ParamsError,
    _check_mapping,
    _check_section,
    _describe,
    _more_training_images,
    _name,
    choice,
    integer,
    number,
    read_yaml,
    training_size,
)
from stages.common.params_core import load_params as _load_params

__all__ = ["ParamsError", "architecture_settings", "load_params", "read_yaml", "validate"]
CORES = os.cpu_count() or 1
MAX_SEEDS = 10
PHYSICAL_MEMORY = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
MEMORY_SHARE = 0.5  # of the machine's memory, one network may use: the data and other stages need the rest
# An architecture's name is used in file names and in `dvc exp run -S architectures.NAME...`
# (tools.experiment), whose override grammar (Hydra's) refuses a key part starting with a digit.
ARCHITECTURE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")  # used with fullmatch


def hidden_sizes(value: Any) -> str | None:
    if not isinstance(value, list) or not value:
        return f"must be a non-empty list of layer widths, e.g. [128, 64], got {_describe(value)}"
    if not all(isinstance(size, int) and not isinstance(size, bool) and size >= 1 for size in value):
        return f"must hold positive integers only, got {_SHORT.repr(value)}"
    if len(value) >= MAX_LAYERS:  # with the output layer, over what a model file may hold
        return (
            f"holds {len(value)} hidden layers; a model file holds at most {MAX_LAYERS} layers, the "
            f"output layer included: use at most {MAX_LAYERS - 1} hidden layers"
        )
    return None


def seed_list(value: Any) -> str | None:
    if not isinstance(value, list) or not value:
        return f"must be a non-empty list of seeds, e.g. [42] or [42, 43, 44], got {_describe(value)}"
    problems = [integer(0, 2**32 - 1)(seed) for seed in value]
    if any(problems):
        return f"each seed {next(problem for problem in problems if problem)}"
    if len(set(value)) < len(value):
        return f"holds a seed twice: {_SHORT.repr(value)}; each seed names one training run"
    if len(value) > MAX_SEEDS:  # the report's exact rank-sum test enumerates every split of the runs
        return f"holds {len(value)} seeds; the report compares at most {MAX_SEEDS} per architecture"
    return None


def threads(value: Any) -> str | None:
    if (problem := integer(1)(value)) is not None:
        return problem
    if value > CORES:  # more BLAS threads than cores made training hundreds of times slower here
        return f"is {value}, more than this machine's {CORES} cores (which only slows training); use {CORES}"
    return None


TRAIN_SCHEMA: dict[str, Check] = {
    "epochs": integer(1, 100000),
    "batch_size": integer(1),
    "learning_rate": number(0, math.inf, low_open=True),
    "optimizer": choice(list(OPTIMIZERS)),
    "weight_decay": number(0),
    "dropout": number(0, 1, high_open=True),
    "schedule": choice(list(SCHEDULES)),
    "step_size": integer(1),
    "gamma": number(0, 1, low_open=True),
    "activation": choice(list(ACTIVATIONS)),
    "init": choice(list(INITIALIZERS)),
    "threads": threads,
    "shift_pixels": integer(0, 8),
    "elastic_alpha": number(0),
    "elastic_sigma": number(0, math.inf, low_open=True),
    "rotate_degrees": number(0, 90),
}
# Each optimizer's hyperparameters (momentum, Adam's betas, ...) are optional train keys, checked
# by the optimizer itself (_hyperparameter_problem): adding one to mlp.OPTIMIZERS needs no edit here.
TRAIN_SCHEMA |= dict.fromkeys(sorted(HYPERPARAMETERS), lambda value: None)
ARCHITECTURE_SCHEMA: dict[str, Check] = {"hidden_sizes": hidden_sizes, **TRAIN_SCHEMA}
SECTIONS = ("prepare", "train", "architectures", "seeds")


def validate(params: Any) -> list[str]:
    """Every problem in a parsed params.yaml, as 'dotted.key: what is wrong' lines."""
    if not isinstance(params, dict) or not params:
        return ["params.yaml must be a mapping with sections prepare, train, architectures and seeds"]
    problems = _check_section(params, "", dict.fromkeys(SECTIONS))
    if "seeds" in params and (problem := seed_list(params["seeds"])):
        problems.append(f"seeds: {problem}")
    for section, schema in (("prepare", PREPARE_SCHEMA), ("train", TRAIN_SCHEMA)):
        if section in params:
            problems += _check_mapping(
                params[section], section, schema, required=True, optional=HYPERPARAMETERS
            )
    architectures = params.get("architectures")
    if "architectures" in params:
        if not isinstance(architectures, dict) or not architectures:
            problems.append("architectures: must map at least one name to {hidden_sizes: [...]}")
        else:
            for name, entry in architectures.items():
                if not isinstance(name, str) or not ARCHITECTURE_NAME.fullmatch(name):
                    rule = (
                        "the name is used in file names and in `dvc exp run -S architectures.NAME...` "
                        "(which reads a leading digit as a number); start with a letter, then use "
                        "letters, digits, '_' or '-'"
                    )
                    problems.append(f"architectures.{_name(name)}: {rule}")
                problems += _check_architecture(entry, f"architectures.{name}")
    return problems or _check_combinations(params)


def _check_combinations(params: dict[str, Any]) -> list[str]:
    """Rules joining two keys, checked once each key is valid, for every architecture's settings."""
    problems, n_train, counted = training_size(params["prepare"])
    reported = set()  # keys already reported: train's are shared by every architecture
    for name, entry in params["architectures"].items():
        settings = architecture_settings(params, name)
        for key in sorted(HYPERPARAMETERS & settings.keys()):
            where = f"architectures.{name}.{key}" if key in entry else f"train.{key}"
            if where not in reported and (problem := _hyperparameter_problem(key, settings[key])):
                reported.add(where)
                problems.append(f"{where}: {problem}")
        key = f"architectures.{name}.batch_size" if "batch_size" in entry else "train.batch_size"
        if n_train and settings["batch_size"] > n_train and key not in reported:
            reported.add(key)
            more = _more_training_images(params["prepare"], settings["batch_size"] - n_train)
            problems.append(
                f"{key}: {settings['batch_size']} is larger than the {n_train} training images prepare gives "
                f"({counted}); set it to at most {n_train}, or {more}"
            )
        if settings["optimizer"] in ("momentum", "nesterov") and settings.get("momentum") == 0:
            problems.append(
                f"architectures.{name}: optimizer {settings['optimizer']!r} with momentum 0 is plain SGD; "
                "set momentum above 0 (e.g. 0.9) or use optimizer 'sgd'"
            )
        # At a batch within the training set, so that a too-large batch is one problem, blamed on its key.
        batch_size = min(settings["batch_size"], n_train or N_TRAIN)
        if problem := _memory_problem(settings["hidden_sizes"], batch_size, settings["optimizer"]):
            problems.append(f"architectures.{name}: {problem}")
    return problems


def _hyperparameter_problem(key: str, value: Any) -> str | None:
    """The library's own check of one optimizer hyperparameter: build the first optimizer taking it."""
    entry = next(entry for entry in OPTIMIZERS.values() if key in entry.hyperparameters)
    try:
        entry.build(np.zeros(1, np.float32), 1.0, **{key: value})
    except ValueError as error:
        return str(error)
    return None


def _memory_problem(hidden: list[int], batch_size: int, optimizer: str) -> str | None:
    """Refuse, before anything is allocated, a network that could not be trained or saved here."""
    layer_sizes = [N_FEATURES, *hidden, N_CLASSES]
    widths = f"hidden_sizes {_SHORT.repr(hidden)}"
    needed = training_bytes(layer_sizes, batch_size, optimizer)
    limit = min(MEMORY_SHARE * PHYSICAL_MEMORY, DEFAULT_MAX_BYTES)
    if needed > limit:
        return (
            f"{widths} need about {needed / GIB:.1f} GiB to train, more than the {limit / GIB:.1f} GiB "
            f"allowed here ({MEMORY_SHARE:.0%} of this machine's memory, at most {DEFAULT_MAX_BYTES // GIB} "
            "GiB); use smaller hidden_sizes"
        )
    if (size := n_parameters(layer_sizes) * 4) > MAX_MODEL_BYTES:  # float32 weights
        return (
            f"{widths} give a {size / GIB:.1f} GiB model file, over the {MAX_MODEL_BYTES // GIB} GiB a "
            "model file may hold; use smaller hidden_sizes"
        )
    return None


def _check_architecture(entry: Any, where: str) -> list[str]:
    problems = _check_mapping(entry, where, ARCHITECTURE_SCHEMA, required=False)
    if isinstance(entry, dict) and "hidden_sizes" not in entry:
        problems.append(f"{where}.hidden_sizes: missing; give the hidden layer widths, e.g. [128, 64]")
    return problems


def architecture_settings(params: dict[str, Any], name: str) -> dict[str, Any]:
    """The train section with architecture `name`'s overrides applied, plus its hidden_sizes."""
    if name not in params["architectures"]:
        known = sorted(params["architectures"])
        raise ParamsError(f"unknown architecture {name!r}; params.yaml defines {known}")
    return {**params["train"], **params["architectures"][name]}


# Reading and checking the whole file: what every stage but prepare (and fetch) does.
load_params = functools.partial(_load_params, validate=validate)
