"""Where each run's files are: a stage that reads every run's file takes a path pattern with {run}."""

from __future__ import annotations

import shutil

import pytest

from tests.support import PROJECT
from tests.support.stages import failing_stage, snapshot, stage_args


@pytest.mark.parametrize("stage", ["publish", "register"])
def test_a_models_pattern_without_run_is_refused(workspace, capsys, stage):
    # Without {run} every architecture got one run's model: the pad drew tiny-42's weights as
    # every architecture's, and every artifact named the same file. (The report's case:
    # stages/report/test_report.py::test_a_path_pattern_without_run_is_refused.)
    shutil.copy(PROJECT / "dvc.yaml", workspace / "dvc.yaml")
    args = [word.replace("{run}", "tiny-42") for word in stage_args(stage)]
    before = snapshot(workspace)
    message = failing_stage(stage, capsys, args)
    assert message.startswith(
        f"{stage}: error: --models data/models/tiny-42.npz: the path has no {{run}}, so every run would read"
    ), message
    assert snapshot(workspace) == before
