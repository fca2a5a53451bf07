"""Progress: the live history DVC's tools read while a stage trains, one line per epoch, gone after."""

from __future__ import annotations

import fcntl
import re
from pathlib import Path

import pytest

from stages.common.progress import LiveHistory, remove_stale
from tests.support.faults import fifo_at

PROC_IO = Path("/proc/self/io")


def test_live_history_holds_every_epoch_so_far_and_is_gone_after(tmp_path):
    path = tmp_path / "live" / "tiny-42.csv"
    with LiveHistory(path) as live:
        live({"epoch": 1, "loss": 0.5, "test_accuracy": 1 / 3})
        assert path.read_text() == "epoch,loss,test_accuracy\n1,0.5,0.333333\n"
        live({"epoch": 2, "loss": 0.25, "test_accuracy": 0.5})
        assert path.read_text().splitlines()[1:] == ["1,0.5,0.333333", "2,0.25,0.5"]
        assert [entry.name for entry in path.parent.iterdir()] == ["tiny-42.csv"]
    assert not path.exists()


def test_the_file_goes_however_training_ends(tmp_path):
    path = tmp_path / "live" / "tiny-42.csv"
    with pytest.raises(KeyboardInterrupt), LiveHistory(path) as live:
        live({"epoch": 1, "loss": 0.5})
        raise KeyboardInterrupt
    assert not path.exists()


def test_a_live_write_that_fails_never_fails_the_training(tmp_path, capsys):
    # Progress is a nicety: an unwritable live file is reported once, and training goes on.
    (tmp_path / "live").write_text("a file where the folder should be")
    with LiveHistory(tmp_path / "live" / "tiny-42.csv") as live:
        live({"epoch": 1, "loss": 0.5})
        live({"epoch": 2, "loss": 0.4})
    assert capsys.readouterr().err.count("live progress not written") == 1


def _bytes_written() -> int:
    """Bytes this process has handed to write() so far (Linux's per-process I/O counters)."""
    found = re.search(r"wchar: (\d+)", PROC_IO.read_text())
    assert found is not None
    return int(found[1])


@pytest.mark.skipif(not PROC_IO.exists(), reason="needs Linux's /proc/self/io")
def test_an_epoch_costs_one_line_whatever_its_number(tmp_path):
    # Issue 20: rewriting the whole file every epoch made 5,000 epochs cost 111 s instead of 15 s.
    # Counted in bytes written, not time: epoch 3,000 writes what epoch 2 writes, one line.
    record = {"epoch": 0, "learning_rate": 0.1, "loss": 0.25, "train_accuracy": 0.9, "test_accuracy": 0.8}
    costs = []
    with LiveHistory(tmp_path / "live" / "tiny-42.csv") as live:
        for epoch in range(1, 3001):
            before = _bytes_written()
            live(record | {"epoch": epoch})
            costs.append(_bytes_written() - before)
        size = (tmp_path / "live" / "tiny-42.csv").stat().st_size
    line = len("3000,0.1,0.25,0.9,0.8\n")
    assert max(costs[1:]) <= line  # after the header, each epoch appends its own line and no more
    assert size > 1000 * line  # while the file itself grew far past any one epoch's cost


def test_only_files_no_training_holds_are_stale(tmp_path):
    # A killed run's file (no lock) goes; a running one's (locked) and files not named ARCH-SEED stay.
    live = tmp_path / "live"
    live.mkdir()
    for name in ("killed-42.csv", "running-42.csv", "notes.csv", "README.md"):
        (live / name).write_text("epoch\n1\n")
    with open(live / "running-42.csv", "a") as running:
        fcntl.flock(running, fcntl.LOCK_EX)
        assert remove_stale(live, dry=True) == [live / "killed-42.csv"]
        assert (live / "killed-42.csv").exists()
        assert remove_stale(live) == [live / "killed-42.csv"]
        with LiveHistory(live / "running-42.csv") as second:  # the same run started twice: refused
            second({"epoch": 1})
    assert sorted(path.name for path in live.iterdir()) == ["README.md", "notes.csv", "running-42.csv"]
    assert remove_stale(tmp_path / "absent") == []


def test_a_new_training_sweeps_a_killed_run_s_file(tmp_path):
    live = tmp_path / "live"
    live.mkdir()
    (live / "deep-42.csv").write_text("epoch\n1\n")
    with LiveHistory(live / "tiny-42.csv") as history:
        history({"epoch": 1})
        assert [path.name for path in live.iterdir()] == ["tiny-42.csv"]


def test_a_fifo_in_live_is_neither_waited_for_nor_swept(tmp_path, capsys):
    # Was: opening a FIFO at the run's own live file waited for a reader forever (the training
    # with it), and the sweep opened a FIFO beside it to lock it and waited for a writer.
    live = tmp_path / "live"
    live.mkdir()
    with fifo_at(live / "deep-42.csv"), fifo_at(live / "tiny-42.csv"):
        with LiveHistory(live / "tiny-42.csv") as history:
            history({"epoch": 1})
            history({"epoch": 2})
        assert capsys.readouterr().err == (
            f"note: live progress not written to {live / 'tiny-42.csv'} (it is a FIFO (named pipe), not a "
            "regular file; remove it)\n"
        )
        assert remove_stale(live) == [] and {path.name for path in live.iterdir()} == {
            "deep-42.csv",
            "tiny-42.csv",
        }
