"""The prepared-data contract: which splits exist, and refusal of damaged arrays before training."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from stages.common.prepared import check_made_with, made_with_path, record_made_with, splits
from stages.common.runner import StageError
from tests.support import PROJECT, forged_zips
from tests.support.fuzz import mutate
from tests.support.pickles import UNPICKLED, Sentinel
from tests.support.stages import failing_stage, snapshot


def test_validation_split_exists_exactly_when_params_ask_for_it():
    # prepare.validation_size decides whether a "val" split is written and read, nothing else.
    assert splits(0) == ("train", "test")
    assert splits(500) == ("train", "val", "test")


PREPARE = {"random_state": 42, "scaling": "unit", "split": "notebook", "subset": 10000, "test_fraction": 0.2,
           "validation_size": 0}  # fmt: skip


def test_the_settings_data_was_prepared_with_are_checked_against_params(tmp_path):
    # Prepared data names the prepare settings it was made with; a stage that records prepare params
    # refuses data made with others (params.yaml edited while the pipeline ran), naming each.
    folder = tmp_path / "prepared"
    record_made_with(folder, PREPARE | {"test_fraction": 0.123456789123})
    check_made_with(folder, PREPARE | {"test_fraction": 0.123456789123})  # read back exactly
    check_made_with(folder, PREPARE | {"subset": 5000}, keys=("validation_size",))  # only what it uses
    with pytest.raises(StageError) as refused:
        check_made_with(folder, PREPARE | {"subset": 5000})
    assert str(refused.value) == (
        f"{folder} was prepared with other settings than params.yaml's prepare section: subset 10000 "
        "(params.yaml: 5000), test_fraction 0.123456789123 (params.yaml: 0.2). Was params.yaml changed while "
        "the pipeline ran? Then run `dvc repro` again (it prepares the data again first)"
    )
    assert made_with_path(folder) == tmp_path / "prepared.json"
    made_with_path(folder).unlink()
    with pytest.raises(
        StageError, match="prepared.json is missing, so nothing says how .* was made; run `dvc repro` again"
    ):
        check_made_with(folder, PREPARE)
    made_with_path(folder).write_text("[1, 2")
    with pytest.raises(StageError, match="prepared.json is unreadable"):
        check_made_with(folder, PREPARE)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "[" * 100_000 + "]" * 100_000,
            "nests JSON 100000 levels deep, more than the 32 any file here needs",
        ),
        ('{"subset": NaN}', "holds NaN, which is not a number (JSON has no NaN or infinity)"),
    ],
    ids=["deeply nested", "NaN"],
)
def test_a_settings_record_too_deep_or_holding_nan_is_refused_in_one_line(tmp_path, text, problem):
    # json.loads raised RecursionError (a traceback) on the first and read NaN as a float.
    made_with_path(tmp_path / "prepared").write_text(text)
    with pytest.raises(StageError) as refused:
        check_made_with(tmp_path / "prepared", PREPARE)
    assert str(refused.value) == (
        f"{tmp_path}/prepared.json is unreadable: it {problem}; run `dvc repro` again (it prepares the data "
        "again first)"
    )


def _damage_split(path: Path, kind: str) -> None:
    """Rewrite the prepared split at `path` with one kind of damage."""
    with np.load(path) as archive:
        X, y = archive["X"].copy(), archive["y"].copy()
    if kind == "missing":
        path.unlink()
        return
    if kind == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        return
    if kind == ".npy":  # np.save's single array, under the .npz name
        with path.open("wb") as handle:
            np.save(handle, X)
        return
    if kind in ("10**9 rows", "zip bomb"):
        _forge(path, kind, X, y)
        return
    changes = {
        "NaN": lambda: X.__setitem__((0, 0), np.nan),
        "inf": lambda: X.__setitem__((3, 7), -np.inf),
        "float64": lambda: {"X": X.astype(np.float64)},
        "783 features": lambda: {"X": X[:, :783]},
        "1-D X": lambda: {"X": X.ravel()},
        "labels short": lambda: {"y": y[:-1]},
        "label 10": lambda: y.__setitem__(0, 10),
        "int64 labels": lambda: {"y": y.astype(np.int64)},
        "pickled": lambda: {"X": np.array([Sentinel()], dtype=object)},
        "huge values": lambda: X.__setitem__((1, 2), 3.0e38),
    }
    arrays = {"X": X, "y": y, **(changes[kind]() or {})}
    np.savez(path, allow_pickle=True, **arrays)


def _forge(path: Path, kind: str, X: np.ndarray, y: np.ndarray) -> None:
    """An archive whose X header claims 10**9 rows, or whose X inflates to 100 times the real rows."""
    rows = 10**9 if kind == "10**9 rows" else 100 * len(X)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (rows, 784)}
    )
    body = header.getvalue() + (X.tobytes() if kind == "10**9 rows" else bytes(rows * 784 * 4))
    labels = io.BytesIO()
    np.save(labels, y)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("X.npy", body)
        archive.writestr("y.npy", labels.getvalue())


PREPARED_CASES = {
    "NaN": "X contains NaN or inf",
    "inf": "X contains NaN or inf",
    "huge values": "X holds values up to 3e+38, beyond the ±1e+06 prepare's scalings give",
    "float64": "array X has shape (320, 784) and dtype float64; expected float32 of at most (70000, 784)",
    "783 features": "X has shape (320, 783); expected at least 1 row of 784 features",
    "1-D X": "array X has shape (250880,) and dtype float32; expected float32 of at most (70000, 784)",
    "labels short": "y must be 320 uint8 labels, got uint8 (319,)",
    "label 10": "y holds label 10, outside 0..9",
    "int64 labels": "array y has shape (320,) and dtype int64; expected uint8",
    "pickled": "array X has shape (1,) and dtype object; expected float32",
    "10**9 rows": "array X has shape (1000000000, 784) and dtype float32; expected float32 of at most",
    # 100 MB of zeros from a 100 kB file: read (it is within the row limit), then refused.
    "zip bomb": "y must be 32000 uint8 labels, got uint8 (320,)",
    ".npy": "not a readable prepared split (BadZipFile: File is not a zip file)",
    "truncated": "not a readable prepared split",
    "missing": "is missing",
}


@pytest.mark.parametrize(("kind", "expected"), PREPARED_CASES.items(), ids=PREPARED_CASES.keys())
def test_damaged_prepared_data_is_rejected_before_training(workspace, capsys, kind, expected):
    # Bad prepared arrays stop train before training, naming the file and the fix; earlier outputs kept.
    _damage_split(workspace / "data/prepared/train.npz", kind)
    before = snapshot(workspace)
    UNPICKLED.clear()
    message = failing_stage("train", capsys)
    assert "data/prepared/train.npz" in message and expected in message
    assert "rerun `dvc repro prepare`" in message
    assert snapshot(workspace) == before and UNPICKLED == []


def _bomb(shape: tuple[int, ...], declared_rows: int | None = None) -> bytes:
    """A prepared archive whose X inflates from a few MiB to zeros of `shape`; with `declared_rows`
    the X header claims that many rows instead (a lie about its size)."""
    header = forged_zips.npy_header((declared_rows, 784) if declared_rows else shape)
    X = forged_zips.deflated(header, math.prod(shape) * 4)
    X.name = "X.npy"
    labels = io.BytesIO()
    np.save(labels, np.zeros(declared_rows or shape[0], np.uint8))
    return forged_zips.archive([X, forged_zips.Member.stored("y.npy", labels.getvalue())])


PREPARED_BOMBS = {
    "3 GiB of rows": (
        lambda: _bomb((1_000_000, 784)),
        "bytes a prepared split may hold; refused before reading them",
    ),
    "2 GiB behind a small header": (lambda: _bomb((700_000, 784), declared_rows=320), None),
}

# Reads each prepared file named on the command line with load_split in a process whose address
# space may grow by only HEADROOM bytes; prints {"skip": reason} or {"results": {name: [outcome,
# message]}}. A reader that over-allocates fails here with MemoryError instead of swapping.
LIMITED_READER = """
import json, mmap, resource, sys
from stages.common.prepared import load_split
from stages.common.runner import StageError

HEADROOM = 1536 << 20
with open("/proc/self/statm") as statm:
    used = int(statm.read().split()[0]) * resource.getpagesize()
try:
    resource.setrlimit(resource.RLIMIT_AS, (used + HEADROOM, resource.getrlimit(resource.RLIMIT_AS)[1]))
    mmap.mmap(-1, 2 * HEADROOM).close()  # maps without touching memory: must fail under the limit
    sys.exit(print(json.dumps({"skip": "the address-space limit is not enforced here"})))
except (OSError, ValueError):
    pass
results = {}
for split in sys.argv[2:]:
    try:
        load_split(sys.argv[1], split)
        results[split] = ["loaded", ""]
    except StageError as error:
        results[split] = ["refused", str(error)]
    except BaseException as error:
        results[split] = [type(error).__name__, str(error)]
print(json.dumps({"results": results}))
"""


@pytest.fixture(scope="module")
def limited_reads(tmp_path_factory):
    """{split name: (outcome, message)} for 300 fuzzed prepared files and the bombs, each read in a
    child process whose address space is capped 1.5 GiB above its size (skips where it cannot be)."""
    folder = tmp_path_factory.mktemp("prepared")
    rng = np.random.default_rng(7)
    X = rng.random((40, 784), dtype=np.float32)
    buffer = io.BytesIO()
    np.savez(buffer, X=X, y=np.arange(40, dtype=np.uint8) % 10)
    names = []
    for iteration in range(300):
        names.append(f"fuzz{iteration:03d}")
        (folder / f"{names[-1]}.npz").write_bytes(mutate(buffer.getvalue(), rng))
    for index, (build, _) in enumerate(PREPARED_BOMBS.values()):
        names.append(f"bomb{index}")
        (folder / f"{names[-1]}.npz").write_bytes(build())
    environment = os.environ | {"PYTHONPATH": str(PROJECT), "OPENBLAS_NUM_THREADS": "1"}
    command = [sys.executable, "-c", LIMITED_READER, str(folder), *names]
    child = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)
    assert child.returncode == 0, child.stderr
    report = json.loads(child.stdout)
    if "skip" in report:
        pytest.skip(report["skip"])
    return report["results"]


def test_fuzzed_prepared_files_only_ever_raise_a_stage_error(limited_reads):
    # A randomly damaged prepared file loads or gives one StageError naming it: no other error, and
    # never more than 1.5 GiB of address space (a MemoryError in the child otherwise).
    results = [limited_reads[f"fuzz{iteration:03d}"] for iteration in range(300)]
    for iteration, (outcome, message) in enumerate(results):
        assert outcome in ("loaded", "refused"), (iteration, outcome, message)
        assert outcome == "loaded" or f"fuzz{iteration:03d}.npz" in message, message
    assert sum(outcome == "refused" for outcome, _ in results) > 200


@pytest.mark.parametrize("bomb", PREPARED_BOMBS)
def test_prepared_memory_bombs_are_refused_within_bounded_memory(limited_reads, bomb):
    # 3 GiB of rows is refused from its header; 2 GiB behind an honest-looking small header is read
    # only as far as the header says (then refused or loaded), never inflated whole.
    outcome, message = limited_reads[f"bomb{list(PREPARED_BOMBS).index(bomb)}"]
    assert outcome in ("refused", "loaded"), (outcome, message)
    expected = PREPARED_BOMBS[bomb][1]
    assert expected is None or (outcome == "refused" and expected in message), message
