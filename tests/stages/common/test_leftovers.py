"""Removing the records of matrix items that params.yaml no longer declares."""

from pathlib import Path

from stages.common.leftovers import remove
from stages.common.runner import transaction


def test_two_items_of_one_folder_leave_its_gitignore_in_one_write(tmp_path, monkeypatch):
    # Inside a stage (outputs held back until it commits), removing two items whose files share a
    # folder takes both lines out of its .gitignore; writing it once per item made the commit fail
    # (the second write deleted the first's pending temporary file).
    monkeypatch.chdir(tmp_path)
    folder = Path("reports/classes")
    folder.mkdir(parents=True)
    (folder / ".gitignore").write_text("/shallow-42.json\n/medium-42.json\n/deep-42.json\n")
    (folder / "shallow-42.json").write_text("{}")
    with transaction():
        removed = remove([folder / "shallow-42.json", folder / "medium-42.json"])
    assert (folder / ".gitignore").read_text() == "/deep-42.json\n"
    assert not (folder / "shallow-42.json").exists()
    assert removed == [
        "reports/classes/shallow-42.json",
        "reports/classes/.gitignore: /shallow-42.json",
        "reports/classes/.gitignore: /medium-42.json",
    ]
