"""Progress: the live history DVC's tools can read while a stage trains."""

from __future__ import annotations

from stages.common.progress import LiveHistory


def test_live_history_holds_every_epoch_so_far_after_each_one(tmp_path):
    # After each epoch the file holds exactly the epochs so far, complete (written atomically).
    live = LiveHistory(tmp_path / "live" / "tiny-42.csv")
    live({"epoch": 1, "loss": 0.5, "test_accuracy": 1 / 3})
    assert (tmp_path / "live/tiny-42.csv").read_text() == "epoch,loss,test_accuracy\n1,0.5,0.333333\n"
    live({"epoch": 2, "loss": 0.25, "test_accuracy": 0.5})
    assert (tmp_path / "live/tiny-42.csv").read_text().splitlines()[1:] == ["1,0.5,0.333333", "2,0.25,0.5"]
    assert [path.name for path in (tmp_path / "live").iterdir()] == ["tiny-42.csv"]


def test_a_live_write_that_fails_never_fails_the_training(tmp_path, capsys):
    # Progress is a nicety: an unwritable live file is reported once, and training goes on.
    (tmp_path / "live").write_text("a file where the folder should be")
    live = LiveHistory(tmp_path / "live" / "tiny-42.csv")
    live({"epoch": 1, "loss": 0.5})
    live({"epoch": 2, "loss": 0.4})
    assert capsys.readouterr().err.count("live progress not written") == 1
    assert len(live.records) == 2
