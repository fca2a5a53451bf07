"""Reading and validating params.yaml: every problem is reported at once, before any work.

params.yaml is read exactly as DVC reads it (ruamel.yaml's safe loader, YAML 1.2: `1e-3` is a
number, a duplicate key is an error), so the values a stage trains with are the values DVC
records in dvc.lock. A schema maps each key to a check; unknown keys get a "did you mean"
suggestion. Messages quote values cut short, so a hostile file cannot flood the terminal.
"""

from __future__ import annotations

import difflib
import functools
import math
import os
import re
import reprlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import YAMLError

import mlp
from mlp import ACTIVATIONS, INITIALIZERS, OPTIMIZERS, SCHEDULES
from mlp.memory import DEFAULT_MAX_BYTES, GIB, n_parameters
from mlp.persistence import MAX_MODEL_BYTES
from stages.common.mnist import N_CLASSES, N_FEATURES, N_TRAIN
from stages.common.runner import check_before_commit

Check = Callable[[Any], str | None]  # returns a problem description, or None when valid
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")  # used with fullmatch: no trailing newline
NUMERIC_STRING = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?\.(inf|Inf|INF)|\.nan")
# Values in messages are cut to a few items and characters: an alias bomb must not print gigabytes.
_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict = 2, 4, 4
_SHORT.maxstring = _SHORT.maxother = _SHORT.maxlong = 40
CORES = os.cpu_count() or 1
MAX_SEEDS = 10
PHYSICAL_MEMORY = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
MEMORY_SHARE = 0.5  # of the machine's memory, one network may use: the data and other stages need the rest


class ParamsError(ValueError):
    """params.yaml is missing, malformed or holds invalid values (all listed at once)."""


def integer(low: int, high: float = math.inf, allow_none: bool = False) -> Check:
    def check(value: Any) -> str | None:
        if value is None and allow_none:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be an integer{' or null' if allow_none else ''}, got {_describe(value)}"
        if not low <= value <= high:
            upper = "" if high == math.inf else f" and at most {high}"
            return f"must be at least {low}{upper}, got {_SHORT.repr(value)}"
        return None

    return check


def number(low: float, high: float = math.inf, low_open: bool = False, high_open: bool = False) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be a number, got {_describe(value)}"
        too_low = value <= low if low_open else value < low
        too_high = value >= high if high_open else value > high
        if not math.isfinite(value) or too_low or too_high:
            closed_high = not high_open and math.isfinite(high)  # inf itself is never allowed
            interval = f"{'(' if low_open else '['}{low}, {high}{']' if closed_high else ')'}"
            return f"must be a finite number in {interval}, got {_SHORT.repr(value)}"
        return None

    return check


def choice(options: Sequence[str]) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, str) or value not in options:
            return f"unknown value {_describe(value)}; choose from {sorted(options)}"
        return None

    return check


def hidden_sizes(value: Any) -> str | None:
    if not isinstance(value, list) or not value:
        return f"must be a non-empty list of layer widths, e.g. [128, 64], got {_describe(value)}"
    if not all(isinstance(size, int) and not isinstance(size, bool) and size >= 1 for size in value):
        return f"must hold positive integers only, got {_SHORT.repr(value)}"
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


PREPARE_SCHEMA: dict[str, Check] = {
    "split": choice(["notebook", "official"]),
    "subset": integer(1, N_TRAIN, allow_none=True),
    "test_fraction": number(0, 1, low_open=True, high_open=True),
    "validation_size": integer(0, N_TRAIN - 1),
    "random_state": integer(0, 2**32 - 1),
    "scaling": choice(["unit", "standardize"]),
}
TRAIN_SCHEMA: dict[str, Check] = {
    "epochs": integer(1, 100000),
    "batch_size": integer(1),
    "learning_rate": number(0, math.inf, low_open=True),
    "optimizer": choice(list(OPTIMIZERS)),
    "momentum": number(0, 1, high_open=True),
    "weight_decay": number(0),
    "dropout": number(0, 1, high_open=True),
    "schedule": choice(list(SCHEDULES)),
    "step_size": integer(1),
    "gamma": number(0, 1, low_open=True),
    "activation": choice(list(ACTIVATIONS)),
    "init": choice(list(INITIALIZERS)),
    "threads": threads,
    "shift_pixels": integer(0, 8),
}
ARCHITECTURE_SCHEMA: dict[str, Check] = {"hidden_sizes": hidden_sizes, **TRAIN_SCHEMA}
SECTIONS = ("prepare", "train", "architectures", "seeds")


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file as DVC does (YAML 1.2, duplicate keys refused); ParamsError on any problem."""
    path = Path(path)
    try:
        return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamsError(f"{path} not found; run from the project root, where params.yaml lives") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ParamsError(f"{path} cannot be read ({error}); it must be a readable UTF-8 text file") from None
    except DuplicateKeyError as error:
        where = f"line {error.problem_mark.line + 1}" if error.problem_mark else "somewhere"
        raise ParamsError(f"{path}: {error.problem} at {where}; keep one of them") from None
    except YAMLError as error:
        raise ParamsError(f"{path} is not valid YAML: {_first_lines(str(error))}") from None


def _first_lines(text: str, n: int = 6) -> str:
    """The start of a parser's message, which quotes the offending line."""
    lines = text.splitlines()
    return "\n".join(lines[:n]) + ("\n…" if len(lines) > n else "")


def load_params(
    path: str | Path = "params.yaml", reads: Callable[[Any], Any] = lambda params: params
) -> dict[str, Any]:
    """Read and validate the whole of params.yaml; raise ParamsError listing every problem.

    Inside a stage run, the stage's outputs are then written only if `reads(params)`, the part
    of the file the stage uses (by default all of it), is the same when the stage ends.
    """
    path = Path(path)
    params = read_yaml(path)
    problems = validate(params)
    if problems:
        listing = "\n".join(f"  - {problem}" for problem in problems)
        raise ParamsError(f"{path} has {len(problems)} problem(s):\n{listing}")
    check_before_commit(functools.partial(_unchanged, path, reads, reads(params)))
    return params


def _unchanged(path: Path, reads: Callable[[Any], Any], used: Any) -> None:
    """Refuse to write outputs made with params the file no longer holds.

    DVC records params.yaml's values when a stage ends. A `dvc exp run -S` started meanwhile
    writes params.yaml before DVC refuses it, so without this check dvc.lock would record values
    the stage never used, and `dvc status` would call the wrong results up to date.
    """
    try:
        now = reads(read_yaml(path))
    except (ParamsError, LookupError, TypeError) as error:  # unreadable, or the part is gone
        now = error
    if now != used:
        raise ParamsError(
            f"{path} changed while this stage ran (another `dvc exp run -S` or an edit?), so its results "
            "would be recorded under params they were not made with; nothing was written. Put "
            f"{path} as you mean it (`dvc params diff` shows what changed), then run `dvc repro` again"
        )


def validate(params: Any) -> list[str]:
    """Every problem in a parsed params.yaml, as 'dotted.key: what is wrong' lines."""
    if not isinstance(params, dict) or not params:
        return ["params.yaml must be a mapping with sections prepare, train, architectures and seeds"]
    problems = _check_section(params, "", dict.fromkeys(SECTIONS))
    if "seeds" in params and (problem := seed_list(params["seeds"])):
        problems.append(f"seeds: {problem}")
    for section, schema in (("prepare", PREPARE_SCHEMA), ("train", TRAIN_SCHEMA)):
        if section in params:
            problems += _check_mapping(params[section], section, schema, required=True)
    architectures = params.get("architectures")
    if "architectures" in params:
        if not isinstance(architectures, dict) or not architectures:
            problems.append("architectures: must map at least one name to {hidden_sizes: [...]}")
        else:
            for name, entry in architectures.items():
                if not isinstance(name, str) or not SAFE_NAME.fullmatch(name):
                    rule = "the name is used in file names; use letters, digits, '_' or '-'"
                    problems.append(f"architectures.{_name(name)}: {rule}")
                problems += _check_architecture(entry, f"architectures.{name}")
    return problems or _check_combinations(params)


def _check_combinations(params: dict[str, Any]) -> list[str]:
    """Rules joining two keys, checked once each key is valid, for every architecture's settings."""
    problems, n_train, counted = _training_size(params["prepare"])
    too_large = set()  # the batch_size keys already reported: train's is shared by every architecture
    for name, entry in params["architectures"].items():
        settings = architecture_settings(params, name)
        key = f"architectures.{name}.batch_size" if "batch_size" in entry else "train.batch_size"
        if n_train and settings["batch_size"] > n_train and key not in too_large:
            too_large.add(key)
            more = _more_training_images(params["prepare"], settings["batch_size"] - n_train)
            problems.append(
                f"{key}: {settings['batch_size']} is larger than the {n_train} training images prepare gives "
                f"({counted}); set it to at most {n_train}, or {more}"
            )
        if settings["optimizer"] in ("momentum", "nesterov") and settings["momentum"] == 0:
            problems.append(
                f"architectures.{name}: optimizer {settings['optimizer']!r} with momentum 0 is plain SGD; "
                "set momentum above 0 (e.g. 0.9) or use optimizer 'sgd'"
            )
        if problem := _memory_problem(settings):
            problems.append(f"architectures.{name}: {problem}")
    return problems


def _more_training_images(prepare: dict[str, Any], missing: int) -> str:
    """How prepare's settings could give `missing` more training images."""
    if prepare["validation_size"] >= missing:
        return f"set prepare.validation_size to at most {prepare['validation_size'] - missing}"
    return "hold out fewer images (prepare.validation_size, prepare.test_fraction) or raise prepare.subset"


def _training_size(prepare: dict[str, Any]) -> tuple[list[str], int, str]:
    """(problems, training images, how they are counted) that prepare's settings give from MNIST's
    60,000, counted as prepare counts them; checked here so that a bad size stops `check`, before
    DVC deletes anything."""
    n = prepare["subset"] or N_TRAIN
    n_train, counted = n, f"prepare.subset {n}" if prepare["subset"] else f"MNIST's {n}"
    if prepare["split"] == "notebook":
        n_test = math.ceil(prepare["test_fraction"] * n)  # as train_test_split counts it
        n_train = n - n_test
        counted += f", less {n_test} for testing at prepare.test_fraction {prepare['test_fraction']}"
        if not 0 < n_test < n:
            problem = (
                f"prepare.subset {n} with prepare.test_fraction {prepare['test_fraction']} leaves "
                f"{n_train} training and {n_test} test images; both need at least one: raise "
                "prepare.subset or change prepare.test_fraction"
            )
            return [problem], 0, counted
    if prepare["validation_size"] >= n_train:
        problem = (
            f"prepare.validation_size {prepare['validation_size']} leaves no training images (only "
            f"{n_train}); set it below {n_train}"
        )
        return [problem], 0, counted
    if prepare["validation_size"]:
        counted += f", less {prepare['validation_size']} held out by prepare.validation_size"
    return [], n_train - prepare["validation_size"], counted


def _memory_problem(settings: dict[str, Any]) -> str | None:
    """Refuse, before anything is allocated, a network that could not be trained or saved here."""
    layer_sizes = [N_FEATURES, *settings["hidden_sizes"], N_CLASSES]
    widths = f"hidden_sizes {_SHORT.repr(settings['hidden_sizes'])}"
    needed = mlp.training_bytes(layer_sizes, settings["batch_size"], settings["optimizer"])
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


def _check_section(params: dict[str, Any], where: str, known: dict[str, Any]) -> list[str]:
    problems = [
        f"{where}{_name(key)}: unknown key{_suggest(key, known)}" for key in params if key not in known
    ]
    problems += [f"{key}: missing section" for key in known if key not in params]
    return problems


def _check_mapping(section: Any, where: str, schema: dict[str, Check], required: bool) -> list[str]:
    if not isinstance(section, dict):
        return [f"{where}: must be a mapping of keys to values, got {_describe(section)}"]
    problems = [
        f"{where}.{_name(key)}: unknown key{_suggest(key, schema)}" for key in section if key not in schema
    ]
    for key, check in schema.items():
        if key not in section:
            if required:
                problems.append(f"{where}.{key}: missing")
            continue
        problem = check(section[key])
        if problem and isinstance(section[key], str) and NUMERIC_STRING.fullmatch(section[key]):
            problem += f" (YAML reads '{section[key]}' as text: remove the quotes)"
        if problem:
            problems.append(f"{where}.{key}: {problem}")
    return problems


def _suggest(key: Any, known: dict[str, Any]) -> str:
    matches = difflib.get_close_matches(str(key), list(known), n=1)
    return f"; did you mean {matches[0]!r}?" if matches else f"; valid keys: {sorted(known)}"


def _name(key: Any) -> str:
    """A key as the user wrote it, cut short; anything but a plain string as its repr."""
    return _SHORT.repr(key) if not isinstance(key, str) or len(key) > 40 or not key.isprintable() else key


def _describe(value: Any) -> str:
    return f"{_SHORT.repr(value)} ({type(value).__name__})"


def architecture_settings(params: dict[str, Any], name: str) -> dict[str, Any]:
    """The train section with architecture `name`'s overrides applied, plus its hidden_sizes."""
    if name not in params["architectures"]:
        known = sorted(params["architectures"])
        raise ParamsError(f"unknown architecture {name!r}; params.yaml defines {known}")
    return {**params["train"], **params["architectures"][name]}
