"""Named experiments: experiments/NAME.yaml turned into `dvc exp run -S` overrides."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from stages.common.params import ParamsError
from stages.common.runner import StageError
from tests.support import PROJECT
from tests.support import yaml12 as yaml
from tests.support.faults import fifo_at
from tools.experiment import experiment_params, main, overrides, result, seed_statistics


@pytest.fixture
def project(tmp_path, monkeypatch):
    shutil.copy(PROJECT / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(PROJECT / "experiments", tmp_path / "experiments")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_full_mnist_experiment_is_valid_and_replaces_the_architectures(project):
    # The shipped experiment is valid params, uses the official split with a validation set,
    # and trains only its own architecture while keeping params.yaml's other train settings.
    params = experiment_params("full-mnist")
    base = yaml.safe_load((project / "params.yaml").read_text())
    assert params["prepare"]["split"] == "official" and params["prepare"]["validation_size"] > 0
    assert list(params["architectures"]) == ["wide"]
    assert params["train"] == base["train"]


def test_seed_study_changes_only_the_seeds(project):
    # The seed study trains params.yaml's recipe unchanged with five seeds, the first being today's.
    base = yaml.safe_load((project / "params.yaml").read_text())
    params = experiment_params("seed-study")
    assert params["seeds"][0] == base["seeds"][0] and len(params["seeds"]) == 5
    assert overrides(base, params) == ["seeds=[42,43,44,45,46]"]


def test_overrides_add_change_and_delete_keys():
    # Changed leaves become key=value, new keys +key=value (flow style), removed keys ~key.
    base = {"prepare": {"subset": 10000, "split": "notebook"}, "architectures": {"a": {"hidden_sizes": [8]}}}
    target = {
        "prepare": {"subset": None, "split": "official"},
        "architectures": {"b": {"hidden_sizes": [4, 2]}},
    }
    assert overrides(base, target) == [
        "prepare.subset=null",
        "prepare.split=official",
        "~architectures.a",
        "+architectures.b={hidden_sizes:[4,2]}",
    ]
    assert overrides(base, base) == []


def test_dry_run_prints_the_dvc_command(project, capsys):
    # --dry shows the exact `dvc exp run` command without running anything.
    main(["full-mnist", "--dry"])
    command = capsys.readouterr().out.strip()
    assert command.startswith("dvc exp run -n full-mnist -S prepare.split=official")
    assert (
        "'~architectures.shallow'" in command and "+architectures.wide={hidden_sizes:[1024,1024]" in command
    )


def test_unknown_or_invalid_experiments_are_clear_errors(project):
    # A missing experiment lists the known ones; invalid values are named like params.yaml's.
    with pytest.raises(
        StageError,
        match=r"experiments/nope.yaml not found; known experiments: \['full-mnist', 'seed-study'\]",
    ):
        experiment_params("nope")
    (project / "experiments/bad.yaml").write_text("train:\n  learnig_rate: 0.1\n")
    with pytest.raises(ParamsError, match="did you mean 'learning_rate'"):
        experiment_params("bad")
    command = [sys.executable, "-m", "tools.experiment", "nope", "--dry"]
    result = subprocess.run(
        command, capture_output=True, text=True, env=os.environ | {"PYTHONPATH": str(PROJECT)}
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("experiment: error: experiments/nope.yaml not found")


def test_result_file_holds_params_each_runs_metrics_and_the_machine(project):
    # What `make seed-study` and `make full-mnist` commit: the README's tables are built from it.
    import json
    import time

    from tools.experiment import result
    from tools.machine import machine_facts

    params = experiment_params("seed-study") | {
        "architectures": {"tiny": {"hidden_sizes": [4]}},
        "seeds": [1, 2],
    }
    for folder, values in (
        ("metrics", {"accuracy": 0.5}),
        ("train", {"selected_epoch": 3, "train_seconds": 1.5}),
    ):
        for seed in (1, 2):
            path = project / "reports" / folder / f"tiny-{seed}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
    written = result("seed-study", params, time.time() - 61, machine_facts())
    assert written["runs"]["tiny-2"] == {"accuracy": 0.5, "selected_epoch": 3, "train_seconds": 1.5}
    assert written["params"] == params and written["seconds"] >= 61
    # What the seeds say is recorded with the runs, so the README prints it and computes nothing.
    assert written["seeds"] == {
        "accuracy": {"tiny": {"mean": 0.5, "std": 0.0, "n": 2}},
        "rank_sum_holm_p": {},
    }
    assert {"processor", "cores", "blas", "load_average_at_start", "load_average_at_end"} <= set(
        written["machine"]
    )


@pytest.mark.parametrize("text", ["- train\n- epochs\n", "just words\n", "42\n"])
def test_an_experiment_file_that_is_not_a_mapping_is_one_clear_error(project, text):
    (project / "experiments/listed.yaml").write_text(text)
    with pytest.raises(StageError, match=r"experiments/listed.yaml holds a (list|str|int), not a mapping"):
        experiment_params("listed")


@pytest.mark.parametrize("name", ["../params", "/etc/passwd", "results/x", "..", ".hidden", ""])
def test_only_a_plain_file_name_in_experiments_is_an_experiment(project, name):
    # `tools.experiment ../params` would read params.yaml itself as an experiment.
    (project / "experiments/results/x.yaml").write_text("seeds: [1]\n")
    with pytest.raises(StageError, match="is no experiment name"):
        experiment_params(name)


def test_a_fifo_for_an_experiment_or_its_results_is_one_clear_error(project):
    # Was "not found" beside a listed experiment, and a results file read waited for a writer.
    fifo = r"is a FIFO \(named pipe\), not a regular file"
    with fifo_at(project / "experiments/piped.yaml"), pytest.raises(ParamsError, match=f"piped.yaml {fifo}"):
        experiment_params("piped")
    (project / "reports/metrics").mkdir(parents=True)
    params = {"architectures": {"tiny": {"hidden_sizes": [4]}}, "seeds": [1]}
    with fifo_at(project / "reports/metrics/tiny-1.json"):
        with pytest.raises(
            StageError, match=f"reports/metrics/tiny-1.json {fifo}; `dvc repro` writes it again"
        ):
            result("x", params, 0.0, {})


def test_the_committed_seed_study_records_what_its_own_runs_say():
    recorded = json.loads((PROJECT / "experiments/results/seed-study.json").read_text())
    assert recorded["seeds"] == seed_statistics(recorded["params"], recorded["runs"])
