"""Which runs restore reads from the work tree's dvc.lock: only well-formed item keys."""

from __future__ import annotations

from pathlib import Path

from tools import restore


def test_a_crafted_lock_entry_names_no_run_so_nothing_outside_the_repository_is_moved(tmp_path, monkeypatch):
    # Seen in review: `evaluate@../../../outside/victim:` made restore move ../outside/victim.json
    # into its backup, out of reach of the way back it printed.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(restore, "_patterns", lambda: {})
    Path("dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  evaluate@../../../outside/victim:\n    cmd: echo\n"
        "  train@shallow-42:\n    cmd: echo\n<<<<<<< HEAD\n  evaluate@deep-7:\n"
    )
    assert restore.recorded_keys() == {"shallow-42", "deep-7"}
