"""Two `dvc repro` at once: the second is refused by DVC's locks and nothing is corrupted."""

from __future__ import annotations

import contextlib
import os
import re
import signal

import pytest

from tests.support.dvc import cache_is_intact, make_repo, sh, start
from tests.support.stages import params_text, temporaries, tiny_params

# DVC 3.67 locks the repository briefly ("Unable to acquire lock") and each stage's paths for as
# long as it runs ("'…/data/prepared' is busy, it is being blocked by: (PID …)"); either may answer.
DVC_LOCK_MESSAGE = r"Unable to acquire lock|is busy, it is being blocked by"


pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_two_dvc_repro_at_once_one_is_refused_and_nothing_is_corrupted(tmp_path):
    # A concurrent second `dvc repro` fails with DVC's lock message and corrupts nothing (also after Ctrl-C).
    repo = make_repo(tmp_path / "repo", tiny_params(epochs=100000))

    first, output = start(repo, "dvc", "repro", "train@tiny-42", start_new_session=True), []
    try:
        for line in first.stdout:  # until the first epoch: prepare is done and train holds its locks
            output.append(line)
            if "train@tiny-42 epoch 1/" in line:
                break
        assert "train@tiny-42 epoch 1/" in "".join(output), "".join(output)
        second = start(repo, "dvc", "repro", "train@tiny-42")
        second_output = second.communicate(timeout=60)[0]
        assert second.returncode != 0, second_output
        assert re.search(DVC_LOCK_MESSAGE, second_output), second_output
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(first.pid, signal.SIGINT)  # Ctrl-C in a terminal reaches the whole process group
        output.append(first.communicate(timeout=60)[0])
    assert first.returncode != 0 and "train: interrupted; no partial output was kept" in "".join(output)
    assert not (repo / "data/models/tiny-42.npz").exists() and temporaries(repo / "data") == []
    assert cache_is_intact(repo)

    (repo / "params.yaml").write_text(params_text(tiny_params()))
    third = sh(repo, "dvc", "repro", "train@tiny-42")
    assert "Stage 'prepare' didn't change, skipping" in third and "Running stage 'train@tiny-42'" in third
    assert "Data and pipelines are up to date" in sh(repo, "dvc", "status", "train@tiny-42")
    assert cache_is_intact(repo)
