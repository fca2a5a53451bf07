"""Tests of mlp.reading: only a regular file of bounded size is read, JSON of bounded depth, no NaN."""

from __future__ import annotations

import contextlib
import os
import re

import pytest

from mlp import reading
from mlp.reading import MAX_DEPTH, UnreadableFileError, open_regular, parse_json, read_bytes, read_json
from tests.support.faults import fifo_at


def test_a_regular_file_within_its_limit_is_read(tmp_path):
    path = tmp_path / "file.bin"
    path.write_bytes(b"12345")
    assert read_bytes(path, 5) == b"12345"
    with pytest.raises(FileNotFoundError):
        read_bytes(tmp_path / "absent", 5)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("fifo", "is a FIFO (named pipe), not a regular file"),
        ("folder", "is a folder, not a regular file"),
        ("/dev/zero", "is a character device, not a regular file"),
        ("link to /dev/zero", "is a character device, not a regular file"),
        ("sparse 100 GB", f"is {100 << 30} bytes, over the 1048576-byte limit for this kind of file"),
    ],
)
def test_what_is_no_regular_file_or_too_large_is_refused_before_reading(tmp_path, kind, message):
    # A FIFO would block the reader forever and /dev/zero fill its memory: both are refused from
    # what stat says, as are a folder and a file over the limit (never read, only looked at).
    path = tmp_path / "input"
    if kind == "folder":
        path.mkdir()
    if kind == "link to /dev/zero":
        path.symlink_to("/dev/zero")
    if kind == "sparse 100 GB":
        with open(path, "wb") as handle:
            handle.truncate(100 << 30)
    target = "/dev/zero" if kind == "/dev/zero" else path
    with fifo_at(path) if kind == "fifo" else contextlib.nullcontext():
        with pytest.raises(UnreadableFileError, match=re.escape(message)):
            read_bytes(target, 1 << 20)


def test_a_fifo_swapped_in_after_the_check_is_refused_without_blocking(tmp_path, monkeypatch):
    # Between os.stat and open the path may become a FIFO: it is opened without waiting for a
    # writer and refused from what was opened.
    regular = tmp_path / "regular"
    regular.write_bytes(b"{}")
    real_stat = os.stat
    monkeypatch.setattr(reading.os, "stat", lambda path: real_stat(regular))
    with fifo_at(tmp_path / "input"), pytest.raises(UnreadableFileError, match="is a FIFO"):
        open_regular(tmp_path / "input", 100)


def test_a_file_that_grows_after_the_check_is_cut_off_at_the_limit(tmp_path, monkeypatch):
    path = tmp_path / "growing"
    path.write_bytes(b"x" * 10)
    monkeypatch.setattr(reading, "_check", lambda status, max_bytes: None)  # as if it were 5 bytes then
    with pytest.raises(UnreadableFileError, match="grew past the 5-byte limit"):
        read_bytes(path, 5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "nests JSON 100000 levels deep, more than the 32"),
        ('{"a": ' * 40 + "1" + "}" * 40, "nests JSON 40 levels deep"),
        ('{"accuracy": NaN}', "holds NaN, which is not a number"),
        ('{"loss": Infinity}', "holds Infinity"),
        ("[-Infinity]", "holds -Infinity"),
        ("{not json", "is not valid JSON \\(JSONDecodeError"),
        (b'{"a": "\xff"}', "is not valid JSON \\(UnicodeDecodeError"),
    ],
    ids=["100000 deep", "40 deep", "NaN", "Infinity", "-Infinity", "not JSON", "not UTF-8"],
)
def test_json_too_deep_or_with_what_is_no_number_is_refused(text, message):
    # json itself raises RecursionError past about 1000 levels and reads NaN and Infinity as floats.
    data = text if isinstance(text, bytes) else text.encode()
    with pytest.raises(UnreadableFileError, match=message):
        parse_json(data)


def test_json_within_the_depth_bound_is_read_and_brackets_in_strings_do_not_count(tmp_path):
    deepest = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert parse_json(deepest.encode()) is not None
    path = tmp_path / "brackets.json"
    path.write_text('{"text": "[[[[{{{{\\"[[[[" , "n": 1.5}')
    assert read_json(path) == {"text": '[[[[{{{{"[[[[', "n": 1.5}
