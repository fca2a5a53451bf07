"""The README's measured numbers are what the committed result files say."""

from __future__ import annotations

import pytest

from stages.common.runner import StageError
from tests.support import PROJECT
from tools import readme


def test_every_generated_block_of_the_readme_matches_its_files(monkeypatch):
    # A new result (a rerun's timings, an experiment, a benchmark) must come with its README tables.
    monkeypatch.chdir(PROJECT)
    text = (PROJECT / "README.md").read_text()
    assert readme.render(text) == text, "run `python -m tools.readme` (make readme) and commit README.md"


def test_a_changed_result_changes_the_table_and_check_fails(tmp_path, monkeypatch):
    # --check refuses a README whose table no longer says what its file does.
    monkeypatch.chdir(PROJECT)
    stale = (
        (PROJECT / "README.md").read_text().replace("<!-- begin speed -->\n", "<!-- begin speed -->\nold\n")
    )
    monkeypatch.setattr(readme, "README", tmp_path / "README.md")
    (tmp_path / "README.md").write_text(stale)
    with pytest.raises(StageError, match="differ from their files"):
        readme.main(["--check"])
    readme.main([])
    assert (tmp_path / "README.md").read_text() == (PROJECT / "README.md").read_text()
