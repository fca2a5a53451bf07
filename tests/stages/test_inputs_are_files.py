"""Every stage input is read as a regular file of bounded size (mlp.reading): a FIFO, a device or a
folder at its path gives one line naming it, never a stage blocked forever or a MemoryError."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import pytest

from stages.common.params_core import MAX_YAML_BYTES
from tests.support import PROJECT
from tests.support.faults import fifo_at
from tests.support.stages import failing_stage, snapshot

FIFO = "is a FIFO (named pipe), not a regular file"
DEVICE = "is a character device, not a regular file"
REBUILD_MODEL = "rebuild it with `dvc repro --force --single-item train@tiny-42`"
# (stage, input, what stands there, the message after "STAGE: error: ")
CASES = [
    ("train", "data/prepared.json", "fifo", f"data/prepared.json is unreadable: it {FIFO}; run `dvc repro`"),
    ("train", "data/prepared.json", "/dev/zero", f"data/prepared.json is unreadable: it {DEVICE}; run `dvc"),
    (
        "evaluate",
        "data/prepared/test.npz",
        "fifo",
        f"data/prepared/test.npz: {FIFO}; rerun `dvc repro prepare`",
    ),
    ("evaluate", "data/models/tiny-42.npz", "fifo", f"data/models/tiny-42.npz: {FIFO}; {REBUILD_MODEL}"),
    (
        "evaluate",
        "data/models/tiny-42.npz",
        "/dev/zero",
        f"data/models/tiny-42.npz: {DEVICE}; {REBUILD_MODEL}",
    ),
    (
        "prepare",
        "data/raw/train-labels-idx1-ubyte",
        "fifo",
        f"data/raw/train-labels-idx1-ubyte {FIFO}; delete",
    ),
    ("report", "reports/metrics/tiny-42.json", "fifo", f"reports/metrics/tiny-42.json {FIFO}; rebuild it"),
    (
        "report",
        "reports/classification/tiny-42.txt",
        "folder",
        "reports/classification/tiny-42.txt is a folder",
    ),
    ("register", "dvc.yaml", "fifo", f"dvc.yaml {FIFO}; put back the committed one (git checkout dvc.yaml)"),
    # params.yaml, read by every stage but fetch, and what check reads of DVC's record.
    ("prepare", "params.yaml", "fifo", f"params.yaml {FIFO}; `git checkout params.yaml` brings back the"),
    ("train", "params.yaml", "/dev/zero", f"params.yaml {DEVICE}; `git checkout params.yaml` brings"),
    ("publish", "params.yaml", "folder", "params.yaml is a folder, not a regular file; `git checkout"),
    ("report", "params.yaml", "oversized", "params.yaml is 4194305 bytes, over the 4194304-byte limit"),
    ("check", "dvc.lock", "fifo", f"dvc.lock {FIFO}; put back the file (`git checkout dvc.lock`"),
    ("check", "dvc.yaml", "fifo", f"dvc.yaml {FIFO}; put back the file (`git checkout dvc.yaml`"),
    ("check", "data/models/.gitignore", "fifo", f"data/models/.gitignore {FIFO}; remove it (`dvc repro`"),
    # Nested deeper than any file here (was a RecursionError traceback).
    ("check", "dvc.lock", "deep", "dvc.lock nests YAML more than 32 levels deep, more than any file here"),
    ("register", "dvc.yaml", "deep", "dvc.yaml nests YAML more than 32 levels deep, more than any file"),
]


@contextlib.contextmanager
def standing(path: Path, kind: str):
    """`kind` in place of the file at `path` for the block: a FIFO, /dev/zero (a link), a folder,
    a file too large or YAML nested too deep."""
    path.unlink(missing_ok=True)
    if kind == "fifo":
        with fifo_at(path):
            yield
        return
    if kind == "folder":
        path.mkdir()
    elif kind == "deep":
        path.write_text("stages: " + "[" * 100_000 + "]" * 100_000 + "\n")
    elif kind == "oversized":  # sparse: a byte over the bound for YAML files
        with path.open("wb") as handle:
            handle.truncate(MAX_YAML_BYTES + 1)
    else:
        path.symlink_to(kind)
    yield


@pytest.mark.parametrize(
    ("stage", "name", "kind", "expected"), CASES, ids=[f"{c[0]}-{Path(c[1]).name}-{c[2]}" for c in CASES]
)
def test_an_input_that_is_no_regular_file_is_named_in_one_line(
    workspace, capsys, stage, name, kind, expected
):
    shutil.copy(PROJECT / "dvc.yaml", workspace / "dvc.yaml")  # check reads it, and dvc.lock beside it
    with standing(workspace / name, kind):
        before = snapshot(workspace)
        message = failing_stage(stage, capsys)
        assert message.startswith(f"{stage}: error: {expected}"), message
        assert message.count("\n") == 1 and snapshot(workspace) == before
