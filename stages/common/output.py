"""Writing a stage's outputs: atomic files that the stage runner publishes all together.

Every writer goes through `open_output`, which writes a temporary file beside the target
(mlp.atomic) and hands it to the runner's transaction (stages.common.runner). Tracked files
round floats so that reruns and diffs stay stable and readable.
"""

from __future__ import annotations

import csv
import glob
import io
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from mlp.atomic import atomic_open, remove_quietly, write_error
from stages.common.runner import publish

FLOAT_DIGITS = 6


@contextmanager
def open_output(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open an output for writing, creating its folder; it appears when the stage commits.

    Temporary files that an earlier, killed write of the same output left beside it
    (`.NAME.XXXX.tmp`, which SIGKILL gives no chance to remove) are deleted first.
    """
    make_parent(path)
    remove_leftovers(Path(path))
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    with atomic_open(path, mode, publish=publish, **kwargs) as handle:
        yield handle


def remove_leftovers(path: Path) -> None:
    """Delete the temporary files atomic_open names after `path` (.NAME.XXXX.tmp) in its folder."""
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        remove_quietly(leftover)


def rounded(value: Any) -> Any:
    """Round floats (also inside dicts and lists) to FLOAT_DIGITS decimals."""
    if isinstance(value, float):
        return round(value, FLOAT_DIGITS)
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(item) for item in value]
    return value


def make_parent(path: str | os.PathLike[str]) -> None:
    """Create the folder `path` goes in; an OSError names `path`."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise write_error(path, error) from error


def write_json(path: str | os.PathLike[str], data: Mapping[str, Any]) -> None:
    """Write `data` as sorted, rounded, indented JSON; refuse NaN and infinity, which JSON lacks."""
    for key, value in _leaves(data):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"refusing to write {path}: {key} is {value}, which JSON cannot hold")
    with open_output(path) as handle:
        json.dump(rounded(dict(data)), handle, indent=2, sort_keys=True, allow_nan=False)
        handle.write("\n")


def _leaves(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of every value inside nested mappings."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            yield from _leaves(value, f"{prefix}{key}.")
    else:
        yield prefix.rstrip("."), data


def csv_text(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """Rows (dicts) as CSV text with the given column order, floats rounded."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rounded(dict(row)) for row in rows)
    return buffer.getvalue()


def write_csv(
    path: str | os.PathLike[str], columns: Sequence[str], rows: Iterable[Mapping[str, Any]]
) -> None:
    """Write rows (dicts) as CSV with the given column order, floats rounded."""
    write_text(path, csv_text(columns, rows))


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write text."""
    with open_output(path) as handle:
        handle.write(text)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write bytes."""
    with open_output(path, "wb") as handle:
        handle.write(data)
