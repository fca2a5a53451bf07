"""Sharing experiments between machines through DVC's own engine, with real git and dvc.

Two clones of a bare git repository, and a local folder as the DVC remote: what machine A runs
(one experiment, then a queued sweep on two workers) machine B pulls, sees, applies and has,
models and metrics included, without training anything.
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support import yaml12 as yaml
from tests.support.dvc import IDENTITY, make_repo, sh
from tests.support.stages import tiny_params

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def machines(tmp_path_factory) -> tuple[Path, Path]:
    """(A, B): A ran and pushed the baseline; B cloned it and pulled its data."""
    root = tmp_path_factory.mktemp("sharing")
    remote, store = root / "remote.git", root / "dvc-store"
    sh(root, "git", "init", "-q", "--bare", "--initial-branch=main", str(remote))
    a = make_repo(root / "a", tiny_params())
    sh(a, "dvc", "remote", "add", "-d", "store", str(store))
    sh(a, "dvc", "repro")
    sh(a, "git", "add", "-A")
    sh(a, "git", *IDENTITY, "commit", "-q", "-m", "baseline")
    sh(a, "dvc", "push")
    sh(a, "git", "push", "-q", str(remote), "HEAD:main")
    sh(a, "git", "remote", "add", "origin", str(remote))
    sh(root, "git", "clone", "-q", "-b", "main", str(remote), "b")
    b = root / "b"
    sh(b, "dvc", "pull")
    return a, b


def _metrics(repo: Path) -> str:
    return (repo / "reports/metrics/tiny-42.json").read_text()


def _applied_without_training(b: Path, name: str) -> None:
    """Apply experiment `name` in B and check it is complete there: outputs present, nothing to run."""
    sh(b, "dvc", "exp", "apply", name)
    assert (b / "data/models/tiny-42.npz").exists()
    assert "up to date" in sh(b, "dvc", "status")


def test_an_experiment_pushed_by_one_machine_is_applied_by_another(machines):
    # A runs and pushes an experiment with its data; B pulls it, lists it and applies it, no retraining.
    a, b = machines
    sh(a, "dvc", "exp", "run", "-n", "slower", "-S", "train.learning_rate=0.05")
    metrics = _metrics(a)
    sh(a, "dvc", "exp", "push", "origin", "slower")  # the git ref and, by default, its cached data
    sh(b, "dvc", "exp", "pull", "origin", "slower")
    assert "slower" in sh(b, "dvc", "exp", "show", "--csv")
    _applied_without_training(b, "slower")
    assert _metrics(b) == metrics


def test_a_queued_sweep_run_on_one_machine_is_shared_whole(machines):
    # A queues two experiments and runs them on two workers; one `exp push` shares both; B has both.
    a, b = machines
    for rate in ("0.02", "0.2"):
        sh(a, "dvc", "exp", "run", "--queue", "-n", f"rate-{rate}", "-S", f"train.learning_rate={rate}")
    sh(a, "dvc", "queue", "start", "-j", "2")
    try:
        # Until both have ended: an entry moving from queued to running may be missing from one
        # `queue status`, so absent words prove nothing. (600 s is a hang guard.)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            status = sh(a, "dvc", "queue", "status")
            if status.count("Success") + status.count("Failed") >= 2:
                break
            time.sleep(2)
    finally:
        sh(a, "dvc", "queue", "stop")  # the workers would otherwise idle on after the test
    assert status.count("Success") >= 2, status
    sh(a, "dvc", "exp", "push", "origin")  # every experiment of the current commit
    sh(b, "dvc", "exp", "pull", "origin")
    shown = sh(b, "dvc", "exp", "show", "--csv")
    assert "rate-0.02" in shown and "rate-0.2" in shown
    for name in ("rate-0.02", "rate-0.2"):
        _applied_without_training(b, name)


def test_a_model_is_fetched_by_name_from_the_registry_and_used(machines, tmp_path):
    # The baseline's dvc.yaml declares each run's model as an artifact (the publish stage wrote it);
    # anyone fetches one from the git remote and its DVC remote, by path or, once a version is
    # tagged as DVC's model registry (GTO) does it, by name, and the predict command reads a digit with it.
    a, _ = machines
    declared = (a / "dvc.yaml").read_text()
    assert "tiny-42:" in declared and "architecture-tiny" in declared and "type: model" in declared
    remote = a.parent / "remote.git"
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    sh(consumer, "dvc", "get", str(remote), "data/models/tiny-42.npz", "-o", "by-path.npz")
    sh(
        a, "git", *IDENTITY, "tag", "-a", "tiny-42@v1.0.0", "-m", "Registering tiny-42 v1.0.0"
    )  # as `gto register` does
    sh(a, "git", "push", "-q", str(remote), "tiny-42@v1.0.0")
    sh(consumer, "dvc", "artifacts", "get", str(remote), "tiny-42", "-o", "by-name.npz")
    committed = yaml.safe_load(sh(a, "git", "show", "HEAD:dvc.lock"))["stages"]["train@tiny-42"]["outs"][0]
    for fetched in (
        "by-name.npz",
        "by-path.npz",
    ):  # the baseline's model (A's workspace holds an experiment's)
        assert hashlib.md5((consumer / fetched).read_bytes()).hexdigest() == committed["md5"]
    digit = np.zeros((60, 40), np.uint8)
    digit[10:50, 18:22] = 255  # a "1"
    Image.fromarray(digit).save(consumer / "one.png")
    shown = sh(
        a,
        sys.executable,
        "-m",
        "tools.predict",
        str(consumer / "one.png"),
        "--model",
        str(consumer / "by-name.npz"),
    )
    assert shown.startswith(f"{consumer / 'one.png'}: ") and "(probability " in shown
