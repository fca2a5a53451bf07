"""Writing outputs: floats rounded, no NaN in JSON, and no temporary file left from a killed write."""

from __future__ import annotations

import json
import math

import pytest

from stages.common.output import open_output, write_csv, write_json


def test_json_is_sorted_rounded_and_refuses_what_json_cannot_hold(tmp_path):
    # Tracked JSON is byte-stable (sorted keys, 6 decimals); NaN or infinity is an error, not `NaN`.
    path = tmp_path / "metrics.json"
    write_json(path, {"b": 1 / 3, "a": {"c": 2.0}})
    assert json.loads(path.read_text()) == {"a": {"c": 2.0}, "b": 0.333333}
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match=r"refusing to write .*metrics.json: a.loss is (nan|inf)"):
            write_json(path, {"a": {"loss": bad}})
    assert json.loads(path.read_text())["b"] == 0.333333  # the old file stays


def test_csv_rounds_floats_and_keeps_strings(tmp_path):
    # Floats get 6 decimals; values already written as text (a probability with 9 digits) stay as they are.
    path = tmp_path / "table.csv"
    write_csv(path, ["x", "p"], [{"x": 2 / 3, "p": "0.999999881"}])
    assert path.read_text() == "x,p\n0.666667,0.999999881\n"


def test_leftover_temporaries_of_a_killed_write_are_removed(tmp_path):
    # A SIGKILL mid-write leaves .NAME.XXXX.tmp; the next write of NAME removes it (and only its own).
    leftovers = [tmp_path / ".history.csv.ab12cd.tmp", tmp_path / ".history.csv.zz99.tmp"]
    other = tmp_path / ".model.npz.ab12.tmp"
    for path in [*leftovers, other]:
        path.write_text("half")
    with open_output(tmp_path / "history.csv") as handle:
        handle.write("epoch\n")
    assert sorted(path.name for path in tmp_path.iterdir()) == [".model.npz.ab12.tmp", "history.csv"]
