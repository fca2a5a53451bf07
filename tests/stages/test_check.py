"""The check stage: a bad params.yaml stops the pipeline before any output is touched."""

from __future__ import annotations

from stages.common.runner import RESTORE_COMMAND
from tests.support.stages import failing_stage, params_text, run_stage_in_process, snapshot, tiny_params


def test_valid_params_give_the_same_bytes_whatever_their_values(fresh):
    # Its output never changes with the params, so a valid change reruns only the stages that read it.
    run_stage_in_process("check", ["data/checked.txt"])
    first = (fresh / "data/checked.txt").read_bytes()
    (fresh / "params.yaml").write_text(params_text(tiny_params(epochs=7, learning_rate=0.05)))
    run_stage_in_process("check", ["data/checked.txt"])
    assert (fresh / "data/checked.txt").read_bytes() == first == b"params.yaml is valid\n"


def test_bad_params_fail_with_the_way_back(workspace, capsys):
    # `dvc exp run -S train.epochs=-1` must stop here, say what is wrong, and how to get back.
    (workspace / "params.yaml").write_text(params_text(tiny_params(epochs=-1)))
    before = snapshot(workspace)
    message = failing_stage("check", capsys, ["data/checked.txt"])
    assert "train.epochs: must be at least 1" in message and f"`{RESTORE_COMMAND}`" in message
    assert snapshot(workspace) == before
