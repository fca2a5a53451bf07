"""Which leftovers `make prune` removes: every output, dvc.lock entry and .gitignore line of the
items dvc.yaml no longer declares, whether dvc.lock still lists the item or only its files remain."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from dvc.repo import Repo

import tools.prune
from stages.common.runner import StageError
from tests.support import PROJECT
from tests.support import yaml12 as yaml
from tests.support.faults import fifo_at
from tests.support.stages import params_text, tiny_params
from tools.prune import item_outputs, keys_ignored, keys_on_disk, prune, stale

# After `make seed-study` (seeds 42..46), `dvc exp apply main` and `dvc repro` with seeds [42]:
# dvc.lock lists the current items only, but seed 43's files are still on disk.
CURRENT = {"check", "fetch", "prepare", "train@tiny-42", "evaluate@tiny-42", "report"}
LOCK = """\
schema: '2.0'
stages:
  train@tiny-42:
    cmd: python -m stages.train tiny 42
    outs:
    - path: data/models/tiny-42.npz
      hash: md5
  evaluate@tiny-42:
    cmd: python -m stages.evaluate tiny-42
    outs:
    - path: reports/metrics/tiny-42.json
      hash: md5
"""
# Every place dvc.yaml's train and evaluate items (and training progress) write ARCH-SEED to.
PER_ITEM = [
    "data/models/{}.npz",
    "reports/train/{}.json",
    "reports/history/{}.csv",
    "live/{}.csv",
    "reports/classes/{}.json",
    "reports/classification/{}.txt",
    "reports/metrics/{}.json",
    "reports/predictions/{}.csv",
]
# Not any item's output, though some look like one.
UNRELATED = [
    "reports/README.md",
    "reports/index.html",
    "reports/curves.csv",
    "reports/figures/curves_tiny.png",
    "reports/figures/tiny-43.png",  # the report's folder, not an item's
    "reports/metrics/notes.json",  # not named ARCH-SEED
    "reports/metrics/tiny-43.json.bak",
    "reports/metrics/tiny-43-old.json",
    "reports/history/.tiny-43.csv.x1y2.tmp",  # an interrupted write's temporary file
    "reports/tiny-43.json",
    "data/tiny-43.npz",
    "live/notes.csv",
    "reports/metrics/summary-2025.json",  # named like an item's, but no run of that key is complete
    "data/models/tiny-2024.npz",  # a user's copy of a model
]


def _read(path: str) -> str:
    return Path(path).read_text()


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The project's dvc.yaml in an empty folder (the working directory), with the files above;
    `dvc stage list` answers CURRENT (what params.yaml with seeds [42] and architecture tiny gives),
    and train@tiny-42 is training (it holds its live file's lock)."""
    monkeypatch.chdir(tmp_path)
    Repo.init(no_scm=True)  # prune holds DVC's repository lock, .dvc/tmp/lock
    shutil.copy(PROJECT / "dvc.yaml", "dvc.yaml")
    Path("params.yaml").write_text(params_text(tiny_params()))
    Path("dvc.lock").write_text(LOCK)
    for path in [pattern.format(key) for pattern in PER_ITEM for key in ("tiny-42", "tiny-43")] + UNRELATED:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(path)
    Path("data/models/.gitignore").write_text("/tiny-42.npz\n/tiny-43.npz\n")
    Path("reports/classes/.gitignore").write_text("/tiny-42.json\n/tiny-43.json\n")
    monkeypatch.setattr(tools.prune, "current_stages", lambda *repo: set(CURRENT))
    with open("live/tiny-42.csv", "a") as training:
        fcntl.flock(training, fcntl.LOCK_EX)
        yield tmp_path


def test_a_killed_run_s_live_file_goes_whatever_its_item_and_a_running_one_s_stays(workspace):
    # train@tiny-42 is current; killed, it holds no lock on its progress any more: stale.
    Path("live/small-42.csv").write_text("epoch\n1\n")
    assert prune(dry=True).count("live/small-42.csv") == 1
    assert "live/small-42.csv" in prune() and not Path("live/small-42.csv").exists()
    assert Path("live/tiny-42.csv").exists() and Path("live/notes.csv").exists()


def test_outputs_of_an_item_without_a_dvc_lock_entry_are_found_and_removed(workspace, capsys):
    stale_files = [pattern.format("tiny-43") for pattern in PER_ITEM]
    ignore_lines = ["data/models/.gitignore: /tiny-43.npz", "reports/classes/.gitignore: /tiny-43.json"]

    tools.prune.main(["--dry"])  # lists, removes nothing
    listed = capsys.readouterr().out.splitlines()
    assert set(listed[:-1]) == {f"prune: would remove {item}" for item in stale_files + ignore_lines}
    assert listed[-1] == f"prune: {len(stale_files) + len(ignore_lines)} stale item(s)"
    assert all(Path(path).exists() for path in stale_files)
    assert "/tiny-43.npz" in _read("data/models/.gitignore")

    tools.prune.main([])
    listed = capsys.readouterr().out.splitlines()
    assert set(listed[:-1]) == {f"prune: removed {item}" for item in stale_files + ignore_lines}
    assert "commit with `git add -A`" in listed[-1]
    assert not any(Path(path).exists() for path in stale_files)
    # The current item's outputs, dvc.lock (no entry was stale) and unrelated files stay.
    assert all(Path(pattern.format("tiny-42")).exists() for pattern in PER_ITEM)
    assert all(Path(path).read_text() == path for path in UNRELATED)
    assert _read("dvc.lock") == LOCK
    assert _read("data/models/.gitignore") == "/tiny-42.npz\n"
    assert _read("reports/classes/.gitignore") == "/tiny-42.json\n"
    assert prune(dry=True) == []


def test_an_item_with_a_dvc_lock_entry_loses_it_its_outputs_and_its_gitignore_lines(workspace):
    # Architecture small left params.yaml; dvc.lock still lists train@small-42 (not evaluate).
    lock = yaml.safe_load(LOCK)
    lock["stages"]["train@small-42"] = {"cmd": "x", "outs": [{"path": "data/models/small-42.npz"}]}
    Path("dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))
    Path("data/models/small-42.npz").write_text("model")
    Path("reports/metrics/small-42.json").write_text("{}")
    Path("data/models/.gitignore").write_text("/tiny-42.npz\n/small-42.npz\n")

    removed = prune()
    assert "dvc.lock entry train@small-42" in removed and "dvc.lock entry train@tiny-43" not in removed
    for path in ("data/models/small-42.npz", "reports/metrics/small-42.json", "data/models/tiny-43.npz"):
        assert path in removed and not Path(path).exists()
    assert "data/models/.gitignore: /small-42.npz" in removed
    assert set(yaml.safe_load(_read("dvc.lock"))["stages"]) == {"train@tiny-42", "evaluate@tiny-42"}
    assert _read("data/models/.gitignore") == "/tiny-42.npz\n"
    assert all(Path(path).read_text() == path for path in UNRELATED)


def test_dvc_lock_is_rewritten_atomically(workspace, monkeypatch):
    # A failure while dvc.lock is written (a full disk, Ctrl-C) leaves the old file whole.
    lock = yaml.safe_load(LOCK)
    lock["stages"]["train@small-42"] = {"cmd": "x", "outs": [{"path": "data/models/small-42.npz"}]}
    Path("dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))
    before = _read("dvc.lock")

    def dump_half(self, data, stream):
        stream.write(before[: len(before) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tools.prune.YAML, "dump", dump_half)
    with pytest.raises(OSError, match="cannot write dvc.lock"):
        prune()
    assert _read("dvc.lock") == before and not list(Path().glob(".dvc.lock.*.tmp"))


def test_per_item_outputs_come_from_dvc_yaml_and_cover_every_folder_the_report_reads():
    definition = yaml.safe_load((PROJECT / "dvc.yaml").read_text())
    patterns = item_outputs(definition)
    assert set(patterns) == {"train", "evaluate"}
    assert sorted(p for paths in patterns.values() for p in paths) == sorted(
        pattern.format("${key}") for pattern in PER_ITEM
    )
    # A leftover in any of these folders would be hashed by the report stage.
    folders = {str(Path(p).parent) for paths in patterns.values() for p in paths} - {"live"}
    assert folders == set(definition["stages"]["report"]["deps"]) & folders
    assert {"data/models", "reports/history", "reports/metrics"} <= folders


def test_an_output_path_without_the_item_key_is_refused():
    definition = {"stages": {"train": {"matrix": {"arch": [1]}, "outs": ["data/models/${item.arch}.npz"]}}}
    with pytest.raises(StageError, match="key"):
        item_outputs(definition)


def test_only_items_no_longer_declared_are_stale_and_shared_outputs_stay():
    # small's items left params.yaml: their entries and outputs go, unless a current item declares them.
    lock = {
        "stages": {
            "train@tiny-42": {"outs": [{"path": "data/models/tiny-42.npz"}]},
            "train@small-42": {"outs": [{"path": "data/models/small-42.npz"}]},
            "report": {"outs": [{"path": "reports/shared.json"}]},
        }
    }
    patterns = {"train": ["data/models/${key}.npz", "reports/shared.json".replace(".json", "-${key}.json")]}
    assert stale(lock, {"train@tiny-42", "report"}, patterns) == {
        "train@small-42": [Path("data/models/small-42.npz"), Path("reports/shared-small-42.json")]
    }
    assert stale(lock, {"train@tiny-42", "train@small-42", "report"}, patterns) == {}


def test_a_stale_entry_s_outputs_are_the_current_dvc_yaml_s_paths_never_those_dvc_lock_lists():
    # A crafted dvc.lock (issue 20, defect 2) names any file as an output of a stage that is gone.
    lock = {
        "stages": {
            "oldstage": {"outs": [{"path": "../victim/precious.txt"}, {"path": "README.md"}]},
            "train@small-42": {"outs": [{"path": "README.md"}, {"path": "data/models/small-42.npz"}]},
        }
    }
    assert stale(lock, set(), {"train": ["data/models/${key}.npz"]}) == {
        "oldstage": [],
        "train@small-42": [Path("data/models/small-42.npz")],
    }


def test_a_key_found_on_disk_makes_every_stage_s_item_stale():
    patterns = {"train": ["data/models/${key}.npz"], "evaluate": ["reports/metrics/${key}.json"]}
    current = {"train@tiny-42", "evaluate@tiny-42"}
    assert stale({}, current, patterns, {"tiny-42", "tiny-43", "notes"}) == {
        "evaluate@tiny-43": [Path("reports/metrics/tiny-43.json")],
        "train@tiny-43": [Path("data/models/tiny-43.npz")],
    }


def test_keys_on_disk_are_complete_runs_named_arch_seed(tmp_path):
    # A key counts when every uncached path of one stage holds a file: a lone look-alike does not.
    for path in ("m/a-1.npz", "n/a-1.csv", "m/b_c-d-22.npz", "n/b_c-d-22.csv", "m/c-3.npz", "m/a-1.npz.bak",
                 "n/a-1.csv.bak", "m/notes.npz", "n/notes.csv", "m/.a-2.npz", "n/.a-2.csv"):  # fmt: skip
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("")
    (tmp_path / "m/d-4.npz").mkdir()  # a folder, not a file
    (tmp_path / "n/d-4.csv").write_text("")
    known = {"a-1", "b_c-d-22", "c-3", "d-4", "notes", "a-2"}
    assert keys_on_disk({"train": ["m/${key}.npz", "n/${key}.csv"]}, known, tmp_path) == {"a-1", "b_c-d-22"}
    # A whole run under a key that no dvc.lock in git records is a user's copy (defect 6).
    assert keys_on_disk({"train": ["m/${key}.npz", "n/${key}.csv"]}, {"a-1"}, tmp_path) == {"a-1"}


def test_keys_dvc_still_ignores_count_as_recorded(tmp_path):
    # `dvc checkout` removed a cached output of a dropped item but left its .gitignore line.
    (tmp_path / "m").mkdir()
    (tmp_path / "m/.gitignore").write_text("/a-42.npz\n/a-43.npz\n/notes.npz\n/a-44.npz.bak\n")
    assert keys_ignored(["m/${key}.npz", "n/${key}.csv"], tmp_path) == {"a-42", "a-43"}


def test_prune_refuses_an_invalid_params_yaml(workspace):
    # With `seeds: [43.5]` (a refused -S), `dvc stage list` would declare none of the valid items,
    # and prune would remove them all.
    Path("params.yaml").write_text(params_text(tiny_params() | {"seeds": [43.5]}))
    with pytest.raises(StageError, match="prune keeps the items params.yaml declares"):
        prune(dry=True)
    assert all(Path(pattern.format("tiny-42")).exists() for pattern in PER_ITEM)


def test_a_folder_where_an_item_file_is_expected_is_left_alone(workspace):
    Path("reports/train/tiny-43.json").unlink()
    Path("reports/train/tiny-43.json").mkdir()
    (Path("reports/train/tiny-43.json") / "mine.txt").write_text("mine")
    prune()
    assert (Path("reports/train/tiny-43.json") / "mine.txt").read_text() == "mine"


def test_restore_refuses_when_a_committed_output_is_in_no_cache(tmp_path, monkeypatch):
    # A fresh clone that ran the pipeline again has other training times than the commit: the
    # committed record is in no cache, so restore must refuse before changing anything.
    from tools.restore import missing_from_cache

    monkeypatch.chdir(tmp_path)
    subprocess.run(["git", "init", "-q"], check=True)
    Path(".gitignore").write_text("/kept.json\n/gone.json\n/same.json\n")
    Path("kept.json").write_text("{}")
    Path("same.json").write_text("same")
    cache = tmp_path / "cache"
    (cache / "ab").mkdir(parents=True)
    (cache / "ab" / "cdef").write_text("{}")
    same = hashlib.md5(b"same").hexdigest()
    lock = {
        "stages": {
            "train@x": {
                "outs": [
                    {"path": "kept.json", "md5": "abcdef"},  # in the cache
                    {"path": "gone.json", "md5": "0123456789"},  # nowhere
                    {"path": "same.json", "md5": same},  # the workspace has it as recorded
                    {"path": "tracked.csv", "md5": "0123456789"},  # git keeps it
                ]
            }
        }
    }
    assert missing_from_cache(lock, cache) == ["gone.json"]


def test_a_crafted_dvc_lock_deletes_nothing_but_its_entries(workspace, tmp_path_factory):
    # Defect 2 of issue 20: a stage `oldstage:` whose outs are a file outside the repository and
    # README.md; and a stale item whose dvc.lock outs name README.md too.
    victim = tmp_path_factory.mktemp("victim") / "precious.txt"
    victim.write_text("precious")
    Path("README.md").write_text("readme")
    crafted = [{"path": str(victim), "hash": "md5", "md5": "d41d8cd98f00b204e9800998ecf8427e", "size": 0}]
    crafted += [{"path": "README.md", "hash": "md5", "md5": "d41d8cd98f00b204e9800998ecf8427e", "size": 0}]
    lock = yaml.safe_load(LOCK)
    lock["stages"]["oldstage"] = {"cmd": "echo", "outs": crafted}
    lock["stages"]["train@small-42"] = {"cmd": "echo", "outs": crafted}
    Path("dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))

    removed = prune()
    assert "dvc.lock entry oldstage" in removed and "dvc.lock entry train@small-42" in removed
    assert victim.read_text() == "precious" and _read("README.md") == "readme"
    assert not any("README" in item or "precious" in item for item in removed)


def test_a_user_s_backup_copy_of_a_run_is_never_removed(workspace):
    # Defect 6: medium_backup-1.* beside tiny-42.* in every output folder, model included; no
    # dvc.lock in git names medium_backup-1, so it is no leftover.
    copies = [pattern.format("medium_backup-1") for pattern in PER_ITEM if not pattern.startswith("live")]
    for path in copies:
        Path(path).write_text("mine")
    assert not any("medium_backup" in item for item in prune())
    assert all(Path(path).read_text() == "mine" for path in copies)


def test_an_item_folder_that_links_outside_the_repository_is_left_alone(workspace, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "tiny-43.json").write_text("not ours")
    shutil.rmtree("reports/metrics")
    Path("reports/metrics").symlink_to(elsewhere)
    assert "reports/metrics/tiny-43.json" not in prune()
    assert (elsewhere / "tiny-43.json").read_text() == "not ours"


def test_a_dvc_lock_with_merge_conflict_markers_is_one_clear_error(workspace):
    Path("dvc.lock").write_text(
        LOCK.replace("    outs:\n", "<<<<<<< HEAD\n    outs:\n=======\n>>>>>>> x\n", 1)
    )
    before = {
        path: path.read_bytes() for path in Path().rglob("*") if path.is_file() and ".dvc" not in path.parts
    }
    with pytest.raises(ValueError, match=r"dvc.lock is not valid YAML at line \d+: .*conflict markers"):
        prune()
    after = {
        path: path.read_bytes() for path in Path().rglob("*") if path.is_file() and ".dvc" not in path.parts
    }
    assert after == before


def test_prune_refuses_while_a_dvc_command_holds_the_repository_lock(workspace):
    # Defects 1 and 4: DVC's own lock, which `dvc repro` holds for its whole run (stages included).
    from dvc.lock import make_lock

    before = {
        path: path.read_bytes() for path in Path().rglob("*") if path.is_file() and ".dvc" not in path.parts
    }
    with make_lock(".dvc/tmp/lock"), pytest.raises(StageError, match="a DVC command is running"):
        prune()
    after = {
        path: path.read_bytes() for path in Path().rglob("*") if path.is_file() and ".dvc" not in path.parts
    }
    assert after == before


def test_prune_refuses_while_a_running_stage_holds_paths_in_dvc_s_rwlock(workspace):
    # While a stage's command runs, `dvc repro` releases .dvc/tmp/lock and holds read and write
    # locks on the stage's paths in .dvc/tmp/rwlock instead (here: a live process, this one).
    running = {"pid": os.getpid(), "cmd": "dvc repro"}
    held = {"write": {str(Path("data/models/tiny-42.npz").resolve()): running}, "read": {}}
    Path(".dvc/tmp/rwlock").write_text(json.dumps(held))
    before = {
        path: path.read_bytes() for path in Path().rglob("*") if path.is_file() and ".dvc" not in path.parts
    }
    with pytest.raises(StageError, match="a DVC command is running"):
        prune()
    after = {
        path: path.read_bytes() for path in Path().rglob("*") if path.is_file() and ".dvc" not in path.parts
    }
    assert after == before
    # A killed DVC's entry (no such process) holds nothing.
    held["write"] = {str(Path("data/models/tiny-42.npz").resolve()): {"pid": 2**22 + 1, "cmd": "dvc repro"}}
    Path(".dvc/tmp/rwlock").write_text(json.dumps(held))
    assert "data/models/tiny-43.npz" in prune()


@pytest.mark.parametrize("damaged", ['{"write": {', '{"write": []}'])
def test_a_damaged_rwlock_is_one_clear_error_and_nothing_changes(workspace, damaged):
    # Was: a JSONDecodeError / RWLockFileCorruptedError traceback (a DVC killed on a full disk
    # leaves its rwlock cut short).
    Path(".dvc/tmp/rwlock").write_text(damaged)
    before = {
        path: path.read_bytes() for path in Path().rglob("*") if path.is_file() and ".dvc" not in path.parts
    }
    with pytest.raises(StageError, match=r"rwlock is damaged .*delete it \(`rm \.dvc/tmp/rwlock`\)"):
        prune()
    after = {
        path: path.read_bytes() for path in Path().rglob("*") if path.is_file() and ".dvc" not in path.parts
    }
    assert after == before


def test_prune_runs_without_dvc_on_path_and_fails_in_one_line(tmp_path):
    # Defect: `dvc` called by name. Run as a user with the venv's bin not on PATH.
    Repo.init(root_dir=str(tmp_path), no_scm=True)
    shutil.copy(PROJECT / "dvc.yaml", tmp_path / "dvc.yaml")
    (tmp_path / "params.yaml").write_text(params_text(tiny_params()))
    environment = {"PATH": "/usr/bin:/bin", "DVC_NO_ANALYTICS": "1", "PYTHONPATH": str(PROJECT)}
    command = [sys.executable, "-m", "tools.prune"]
    done = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "prune: 0 stale item(s)", done.stderr
    (tmp_path / "dvc.lock").write_text("stages:\n<<<<<<< HEAD\n  a: 1\n=======\n  a: 2\n>>>>>>> b\n")
    done = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True, check=False)
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("prune: error: dvc.lock is not valid YAML")


@pytest.mark.parametrize(
    ("name", "fix"),
    [
        ("dvc.lock", "put back the file (`git checkout dvc.lock`"),
        ("dvc.yaml", "put back the file (`git checkout dvc.yaml`"),
        ("data/models/.gitignore", "remove it (`dvc repro` writes it again)"),
    ],
)
def test_a_fifo_where_prune_reads_is_one_clear_error(workspace, name, fix):
    # Was: prune waited forever for a writer (dvc.yaml, a .gitignore), or took dvc.lock for empty.
    with fifo_at(Path(name)):
        with pytest.raises(
            ValueError, match=re.escape(f"{name} is a FIFO (named pipe), not a regular file; {fix}")
        ):
            prune()
