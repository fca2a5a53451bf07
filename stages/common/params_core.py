"""params.yaml as DVC reads it, the rule helpers, and the rules of the prepare section.

params.yaml is read exactly as DVC reads it (ruamel.yaml's safe loader, YAML 1.2: `1e-3` is a
number, a duplicate key is an error), so the values a stage trains with are the values DVC
records in dvc.lock. A schema maps each key to a check; unknown keys get a "did you mean"
suggestion. Messages quote values cut short, so a hostile file cannot flood the terminal.
Nothing here needs the mlp library: the prepare stage validates its section with this module
alone, so its dvc.yaml deps leave mlp out (stages.common.params adds the train rules).
"""

from __future__ import annotations

import difflib
import functools
import math
import re
import reprlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import MaxDepthExceededError
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import YAMLError

from mlp.reading import MAX_DEPTH, UnreadableFileError, read_bytes
from stages.common.mnist import N_TRAIN
from stages.common.runner import check_before_commit

Check = Callable[[Any], str | None]  # returns a problem description, or None when valid
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")  # used with fullmatch: no trailing newline
NUMERIC_STRING = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?\.(inf|Inf|INF)|\.nan")
# Values in messages are cut to a few items and characters: an alias bomb must not print gigabytes.
_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict = 2, 4, 4
_SHORT.maxstring = _SHORT.maxother = _SHORT.maxlong = 40
MAX_YAML_BYTES = 4 << 20  # params.yaml is under a kilobyte, dvc.lock tens of kilobytes (0.3 s to parse)


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


PREPARE_SCHEMA: dict[str, Check] = {
    "split": choice(["notebook", "official"]),
    "subset": integer(1, N_TRAIN, allow_none=True),
    "test_fraction": number(0, 1, low_open=True, high_open=True),
    "validation_size": integer(0, N_TRAIN - 1),
    "random_state": integer(0, 2**32 - 1),
    "scaling": choice(["unit", "standardize"]),
}


def parse_yaml(text: str | bytes, yaml: YAML | None = None) -> Any:
    """`yaml` (by default DVC's safe loader, pure Python) on `text`; YAMLError when it is not YAML,
    UnreadableFileError past MAX_DEPTH: deeper nesting overflows the parser's stack."""
    yaml = yaml or YAML(typ="safe", pure=True)  # ruamel's C loader knows no depth bound
    yaml.max_depth = MAX_DEPTH
    try:
        return yaml.load(text)
    except MaxDepthExceededError:
        raise UnreadableFileError(
            f"nests YAML more than {MAX_DEPTH} levels deep, more than any file here needs"
        ) from None


def yaml_file(path: str | Path, yaml: YAML | None = None) -> Any:
    """`parse_yaml` of regular UTF-8 file `path` of at most MAX_YAML_BYTES (mlp.reading): a FIFO
    there blocks no one. Raises OSError, UnreadableFileError (also for non-UTF-8) or YAMLError."""
    try:
        return parse_yaml(read_bytes(path, MAX_YAML_BYTES).decode("utf-8"), yaml)
    except UnicodeDecodeError as error:
        raise UnreadableFileError(f"is not UTF-8 text ({error})") from None


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file as DVC does (YAML 1.2, duplicate keys refused); ParamsError on any problem."""
    path = Path(path)
    try:
        return yaml_file(path)
    except FileNotFoundError:
        raise ParamsError(f"{path} not found; run from the project root, where params.yaml lives") from None
    except OSError as error:
        raise ParamsError(f"{path} cannot be read ({error}); it must be a readable UTF-8 text file") from None
    except UnreadableFileError as error:
        raise ParamsError(f"{path} {error}; `git checkout {path}` brings back the committed one") from None
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
    path: str | Path = "params.yaml",
    reads: Callable[[Any], Any] = lambda params: params,
    validate: Callable[[Any], list[str]] | None = None,
) -> dict[str, Any]:
    """Read params.yaml and `validate` it (by default its prepare section); raise ParamsError
    listing every problem.

    Inside a stage run, the stage's outputs are then written only if `reads(params)`, the part
    of the file the stage uses (by default all of it), is the same when the stage ends.
    """
    path = Path(path)
    params = read_yaml(path)
    problems = (validate or validate_prepare)(params)
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


def validate_prepare(params: Any) -> list[str]:
    """Every problem in params.yaml's prepare section (what the prepare stage reads)."""
    if not isinstance(params, dict) or "prepare" not in params:
        return ["prepare: missing section"]
    problems = _check_mapping(params["prepare"], "prepare", PREPARE_SCHEMA, required=True)
    return problems or training_size(params["prepare"])[0]


def _more_training_images(prepare: dict[str, Any], missing: int) -> str:
    """How prepare's settings could give `missing` more training images."""
    if prepare["validation_size"] >= missing:
        return f"set prepare.validation_size to at most {prepare['validation_size'] - missing}"
    return "hold out fewer images (prepare.validation_size, prepare.test_fraction) or raise prepare.subset"


def training_size(prepare: dict[str, Any], available: int = N_TRAIN) -> tuple[list[str], int, str]:
    """(problems, training images, how they are counted) that prepare's settings give from the
    `available` images (MNIST's 60,000 for `check`, before DVC deletes anything; the real count
    for prepare itself)."""
    n = min(prepare["subset"] or available, available)
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


def _check_section(params: dict[str, Any], where: str, known: dict[str, Any]) -> list[str]:
    problems = [
        f"{where}{_name(key)}: unknown key{_suggest(key, known)}" for key in params if key not in known
    ]
    problems += [f"{key}: missing section" for key in known if key not in params]
    return problems


def _check_mapping(
    section: Any, where: str, schema: dict[str, Check], required: bool, optional: frozenset[str] = frozenset()
) -> list[str]:
    if not isinstance(section, dict):
        return [f"{where}: must be a mapping of keys to values, got {_describe(section)}"]
    problems = [
        f"{where}.{_name(key)}: unknown key{_suggest(key, schema)}" for key in section if key not in schema
    ]
    for key, check in schema.items():
        if key not in section:
            if required and key not in optional:
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


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested params as dotted keys: {'train.epochs': 100, 'architectures.deep.hidden_sizes': [...]}."""
    if not isinstance(value, dict):
        return {prefix.rstrip("."): value}
    return {
        key: item for name, sub in value.items() for key, item in flatten(sub, f"{prefix}{name}.").items()
    }
