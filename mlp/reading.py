"""Reading a file we did not write ourselves just now: only a regular file of bounded size, and
JSON of bounded depth with numbers only.

A path can name anything: opening a FIFO waits for a writer forever, /dev/zero never ends, a
100 GB sparse file fits no memory, JSON nested 10,000 deep overflows the parser, and `NaN` is
no number. So `open_regular` looks at what a path names before opening it (and again at what it
opened, in case it changed in between), and `parse_json` counts the nesting before parsing.
Errors are UnreadableFileError (a ValueError) saying what is wrong; the caller names the file
and says how to make it again, as it alone knows.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import stat
from typing import Any

MAX_DEPTH = 32  # nesting of JSON or YAML: a model header 4 levels, params.yaml 4, dvc.lock 6
MAX_JSON_BYTES = 16 << 20  # our JSON files (metrics, settings) hold a few kilobytes
NOT_FILES = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')  # brackets inside strings do not nest
JSON_BRACKET = re.compile(r"[\[\]{}]")


class UnreadableFileError(ValueError):
    """A file that is no regular file, too large, or not the text or JSON it should be."""


def open_regular(path: str | os.PathLike[str], max_bytes: int) -> io.BufferedReader:
    """Open `path` for binary reading if it is a regular file of at most `max_bytes` bytes.

    Raises FileNotFoundError (and other OSErrors) as open() does, UnreadableFileError otherwise.
    """
    _check(os.stat(path), max_bytes)  # before opening: opening a FIFO blocks
    # O_NONBLOCK: should a FIFO have replaced the file since, it opens at once and is refused.
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        _check(os.fstat(descriptor), max_bytes)
        os.set_blocking(descriptor, True)
        return open(descriptor, "rb")  # noqa: SIM115 (the caller closes it)
    except BaseException:
        os.close(descriptor)
        raise


def read_bytes(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The bytes of regular file `path`, refused beyond `max_bytes` (also if it grows meanwhile)."""
    with open_regular(path, max_bytes) as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UnreadableFileError(f"grew past the {max_bytes}-byte limit while it was read")
    return data


def read_json(path: str | os.PathLike[str], max_bytes: int = MAX_JSON_BYTES) -> Any:
    """parse_json of regular file `path`, of at most `max_bytes` bytes."""
    return parse_json(read_bytes(path, max_bytes))


def parse_json(data: bytes) -> Any:
    """The value of UTF-8 JSON `data` nested at most MAX_DEPTH deep, with no NaN or infinity."""
    try:
        text = data.decode("utf-8")
        steps = (1 if bracket in "[{" else -1 for bracket in JSON_BRACKET.findall(JSON_STRING.sub("", text)))
        depth = max(itertools.accumulate(steps), default=0)
        if depth > MAX_DEPTH:
            raise UnreadableFileError(
                f"nests JSON {depth} levels deep, more than the {MAX_DEPTH} any file here needs"
            )
        return json.loads(text, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UnreadableFileError(f"is not valid JSON ({type(error).__name__}: {error})") from None


def _refuse_constant(name: str) -> Any:
    raise UnreadableFileError(f"holds {name}, which is not a number (JSON has no NaN or infinity)")


def file_kind(mode: int) -> str:
    """What an st_mode describes, for messages: "a FIFO (named pipe)", "a regular file", ..."""
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((kind for is_kind, kind in NOT_FILES if is_kind(mode)), "no regular file")


def _check(status: os.stat_result, max_bytes: int) -> None:
    if not stat.S_ISREG(status.st_mode):
        raise UnreadableFileError(f"is {file_kind(status.st_mode)}, not a regular file")
    if status.st_size > max_bytes:
        raise UnreadableFileError(
            f"is {status.st_size} bytes, over the {max_bytes}-byte limit for this kind of file"
        )
