"""The one-line-per-experiment view (`make experiments`), on `dvc exp show --json` structures shaped
as DVC 3.67 writes them: recorded from a tiny project with a finished, a queued, a failed
(`-S train.learning_rate=1e30`) and a running experiment, values replaced by our own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from statistics import mean, stdev

import pytest

import tools.table
from stages.common.runner import StageError
from tests.support import PROJECT
from tools.table import (
    METRICS_FILE,
    WIDTH,
    accuracies,
    cell,
    experiment_baselines,
    format_table,
    load,
    main,
    mark_stale_workspace,
    rows,
    show_command,
    sort,
)

HEAD = "cdb444b984f1789e1990a1b62b56a8aeff996170"
BASE = {"train": {"learning_rate": 0.1, "epochs": 100}, "seeds": [42]}
BASE_RESULTS = {"shallow-42": 0.9595, "deep-42": 0.963}


def _revision(rev: str, params: dict, results: dict[str, float], name: str | None = None, error=None) -> dict:
    """An ExpState: its params and metrics files as `dvc exp show --json` nests them."""
    metrics = {f"reports/metrics/{run}.json": {"data": {"accuracy": value}} for run, value in results.items()}
    metrics |= {f"reports/timing/{run}.json": {"data": {"train_seconds": 6.2}} for run in results}
    return {
        "rev": rev,
        "name": name,
        "data": {
            "rev": rev,
            "timestamp": None if rev == "workspace" else "2026-12-04T19:28:13",
            "params": {"params.yaml": {"data": params}},
            "metrics": metrics,
            "deps": {},
            "outs": {},
            "meta": {},
        },
        "error": error,
        "experiments": None,
    }


def _range(revision: dict, state: str | None) -> dict:
    """An ExpRange: a finished `dvc exp run` has no executor; a queue task has its state."""
    executor = None
    if state:
        local = {"root": None, "log": None, "pid": None, "returncode": None, "task_id": revision["rev"]}
        executor = {"state": state, "name": None if state == "failed" else "dvc-task", "local": local}
    return {"revs": [revision], "executor": executor, "name": revision["name"]}


def _shown(workspace_params: dict = BASE) -> list[dict]:
    with_lr = lambda lr: BASE | {"train": {"learning_rate": lr, "epochs": 100}}
    seeds = BASE | {"seeds": [42, 43]}
    return [
        _revision("workspace", workspace_params, BASE_RESULTS),
        _revision(HEAD, BASE, BASE_RESULTS, name="main")
        | {
            "experiments": [
                _range(
                    _revision(
                        "e1228b8" + "0" * 33,
                        seeds,
                        {"shallow-42": 0.96, "shallow-43": 0.95, "deep-42": 0.97, "deep-43": 0.96},
                        name="seeds",
                    ),
                    None,
                ),
                _range(_revision("a" * 40, with_lr(0.05), {"deep-42": 0.9}, name="lr-0.05"), "success"),
                # What DVC wrote for a failed queue task: the error, and the baseline's metrics.
                _range(
                    _revision(
                        "e4574479" + "0" * 32,
                        with_lr(1e30),
                        BASE_RESULTS,
                        name="boom",
                        error={"msg": "Experiment run failed", "type": ""},
                    ),
                    "failed",
                ),
                _range(_revision("c3075fd6" + "0" * 32, with_lr(0.2), {}, name="later"), "queued"),
                _range(_revision("f50955d0" + "0" * 32, with_lr(0.3), BASE_RESULTS, name="now"), "running"),
            ]
        },
    ]


def _lines(table) -> dict:
    return {row.name.strip(): row for top in table for row in [top, *top.experiments]}


def test_each_experiment_shows_what_it_changed_and_its_accuracy_per_seed():
    # An experiment's line names only the params it changed and keeps each architecture's seeds.
    table = rows(_shown())
    assert [row.name for row in table] == ["workspace", "main"]
    assert [row.name for row in table[1].experiments] == [
        "  seeds",
        "  lr-0.05",
        "  boom",
        "  later",
        "  now",
    ]
    seeds = _lines(table)["seeds"]
    assert seeds.changed == {"seeds": [42, 43]} and seeds.results == {
        "shallow": [0.96, 0.95],
        "deep": [0.97, 0.96],
    }
    assert _lines(table)["lr-0.05"].results == {"deep": [0.9]} and _lines(table)["lr-0.05"].state is None


def test_failed_queued_and_running_experiments_show_their_state_never_numbers():
    # Issue 20: DVC lists a failed run with its baseline's metrics; the table shows `failed` instead.
    lines = _lines(rows(_shown()))
    for name, state in (("boom", "failed"), ("later", "queued"), ("now", "running")):
        assert lines[name].state == state and lines[name].results == {}
    assert lines["boom"].changed == {"train.learning_rate": 1e30}
    text = {line.split()[0]: line for line in format_table(rows(_shown())).splitlines()}
    assert text["boom"].endswith("failed") and "0.9" not in text["boom"].replace("1e+30", "")
    assert text["later"].endswith("queued") and text["now"].endswith("running")
    # An error on a finished run (no executor) also counts as failed.
    shown = _shown()
    shown[1]["experiments"][0]["revs"][0]["error"] = {"msg": "Experiment run failed", "type": ""}
    assert _lines(rows(shown))["seeds"].state == "failed"


def test_the_workspace_row_shows_what_differs_from_the_last_commit():
    # Issue 17: the workspace's params against HEAD's, as DVC parsed both (YAML 1.2: 1e-3 is a number).
    edited = {
        "train": {"learning_rate": 1e-3},
        "seeds": [42],
        "architectures": {"wide": {"hidden_sizes": [64]}},
    }
    workspace = _lines(rows(_shown(edited)))["workspace"]
    assert workspace.changed == {
        "train.learning_rate": 0.001,
        "architectures.wide.hidden_sizes": [64],
        "~train.epochs": None,
    }
    assert _lines(rows(_shown()))["workspace"].changed == {}
    line = format_table(rows(_shown(edited))).splitlines()[1]
    assert line.startswith("workspace   train.learning_rate=0.001, ")


def test_seed_means_carry_std_and_count_and_fit_a_hundred_columns():
    # Several seeds: mean ± sample standard deviation (n=...); one seed: the value alone.
    table = rows(_shown())
    text = format_table(table)
    assert all(len(line) <= WIDTH for line in text.splitlines())
    expected = f"{mean([0.96, 0.95]):.4f} ± {stdev([0.96, 0.95]):.4f} (n=2)"
    assert expected in next(line for line in text.splitlines() if line.lstrip().startswith("seeds"))
    assert cell([0.96, 0.95], style=1) == f"{mean([0.96, 0.95]):.4f}±{stdev([0.96, 0.95]):.4f} n=2"
    assert "0.9000" in next(line for line in text.splitlines() if line.lstrip().startswith("lr-0.05"))
    assert text.splitlines()[0].split()[-2:] == ["shallow", "deep"]


def test_many_architectures_with_seeds_switch_to_narrower_cells_and_long_params_are_cut():
    # Five architectures with five seeds each still fit: the cells drop the count and leading 0.
    archs = [f"arch{i}" for i in range(5)]
    results = {f"{arch}-{seed}": 0.9 + seed / 1000 for arch in archs for seed in range(42, 47)}
    long_params = BASE | {"train": {"learning_rate": 0.05 + 1e-9, "momentum": 0.9}, "x": [1024] * 40}
    shown = [_revision("workspace", BASE, results), _revision(HEAD, long_params, results, name="main")]
    text = format_table(rows(shown))
    assert all(len(line) <= WIDTH for line in text.splitlines()), text
    assert ".9440±.0016" in text and "n=5" not in text
    assert text.splitlines()[1].split()[1].endswith("…")  # the workspace's many changes, cut


@pytest.mark.parametrize(
    ("path", "arch", "seed"),
    [
        ("reports/metrics/2layer-42.json", "2layer", "42"),
        ("reports/metrics/wide-2-7.json", "wide-2", "7"),
        ("reports/metrics/a_b-c-d-0.json", "a_b-c-d", "0"),
    ],
)
def test_metrics_file_names_split_at_the_last_dash_before_the_seed(path, arch, seed):
    match = METRICS_FILE.fullmatch(path)
    assert match and (match["arch"], match["seed"]) == (arch, seed)


def test_other_metrics_files_and_unreadable_ones_are_ignored():
    metrics = {
        "reports/metrics/deep.json": {"data": {"accuracy": 0.5}},
        "other/reports/metrics/deep-42.json": {"data": {"accuracy": 0.5}},
        "reports/metrics/x/deep-42.json": {"data": {"accuracy": 0.5}},
        "reports/metrics/deep-43.json": {"error": {"type": "FileNotFoundError", "msg": "missing"}},
        "reports/metrics/2layer-42.json": {"data": {"accuracy": 0.75}},
    }
    assert accuracies(metrics) == {"2layer": [0.75]}


def test_unreadable_params_show_as_an_error():
    shown = _shown()
    shown[0]["data"]["params"]["params.yaml"] = {"error": {"type": "YAMLError", "msg": "bad"}}
    workspace = _lines(rows(shown))["workspace"]
    assert workspace.state == "error" and workspace.results == {}


def test_sort_by_an_architecture_puts_the_best_first_and_runs_without_results_last():
    table = rows(_shown())
    sort(table, "deep")
    assert [row.name.strip() for row in table[1].experiments] == ["seeds", "lr-0.05", "boom", "later", "now"]
    sort(table, "shallow")
    assert [row.name.strip() for row in table[1].experiments][0] == "seeds"
    sort(table, "name")
    assert [row.name.strip() for row in table[1].experiments] == ["boom", "later", "lr-0.05", "now", "seeds"]
    assert [row.name for row in table] == ["workspace", "main"]  # baselines stay in DVC's order
    with pytest.raises(StageError, match="use one of name, deep, shallow"):
        sort(table, "medium")


def _fake_run(outputs: dict[str, tuple[int, str]]):
    """tools.table._run answering each command by its first words."""

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        key = next(key for key in outputs if " ".join(command).startswith(key))
        code, stdout = outputs[key]
        return subprocess.CompletedProcess(command, code, stdout, "dvc says no" if code else "")

    return run


def test_all_asks_dvc_once_for_head_and_every_commit_that_has_experiments(monkeypatch):
    other = "ab" + "1" * 38
    failed_on = "cd" + "2" * 38
    refs = f"refs/exps/{other[:2]}/{other[2:]}/lr-0.05\nrefs/exps/celery/failed\nrefs/exps/exec/EXEC_HEAD\n"
    stash = f"commit: dvc-exp:{'e' * 40}:{failed_on}:boom\ncommit: dvc-exp:{'f' * 40}:{other}:\n"
    monkeypatch.setattr(
        tools.table,
        "_run",
        _fake_run(
            {
                "git for-each-ref": (0, refs),
                "git log -g --format=%gs refs/exps/celery/stash": (128, ""),
                "git log -g --format=%gs refs/exps/celery/failed": (0, stash),
            }
        ),
    )
    assert experiment_baselines() == [other, failed_on]
    command = show_command(all_baselines=True, commits=None)
    assert command == ["dvc", "exp", "show", "--json", "--rev", "HEAD", "--rev", other, "--rev", failed_on]
    assert show_command(all_baselines=False, commits=3) == ["dvc", "exp", "show", "--json", "--num", "3"]


@pytest.mark.parametrize(
    "stdout", ["not json", '{"rev": "workspace"}', "[1, 2]", '[{"rev": "x", "experiments": [{"revs": 3}]}]']
)
def test_output_dvc_did_not_promise_gives_one_clear_message(monkeypatch, stdout):
    monkeypatch.setattr(tools.table, "_run", _fake_run({"dvc": (0, stdout)}))
    with pytest.raises(StageError, match="printed what this table does not understand"):
        load(["dvc", "exp", "show", "--json"])


def test_a_failing_dvc_is_reported(monkeypatch):
    monkeypatch.setattr(tools.table, "_run", _fake_run({"dvc": (1, "")}))
    with pytest.raises(StageError, match="failed: dvc says no"):
        load(["dvc", "exp", "show", "--json"])


def test_main_prints_the_sorted_table(monkeypatch, capsys):
    monkeypatch.setattr(tools.table, "_run", _fake_run({"dvc": (0, json.dumps(_shown()))}))
    main(["--sort", "name"])
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names == ["experiment", "workspace", "main", "boom", "later", "lr-0.05", "now", "seeds"]


@pytest.mark.slow
def test_a_closed_pipe_ends_the_table_quietly(tmp_path):
    # `make experiments | head -1` with far more than a pipe's buffer of rows: no traceback.
    shown = _shown()
    one = shown[1]["experiments"][0]
    shown[1]["experiments"] = [json.loads(json.dumps(one).replace('"seeds"', f'"s{i}"')) for i in range(3000)]
    (tmp_path / "shown.json").write_text(json.dumps(shown))
    # A `dvc` package ahead of the real one: `python -m dvc` prints the recorded JSON, as
    # `dvc exp show --json` would (the table runs DVC through its own interpreter).
    fake = tmp_path / "fake" / "dvc" / "__main__.py"
    fake.parent.mkdir(parents=True)
    (fake.parent / "__init__.py").write_text("")
    fake.write_text(f"import sys\nsys.stdout.write(open({str(tmp_path / 'shown.json')!r}).read())\n")
    env = os.environ | {"PYTHONPATH": f"{tmp_path / 'fake'}{os.pathsep}{PROJECT}"}
    done = subprocess.run(
        ["/bin/sh", "-c", f"'{sys.executable}' -m tools.table | head -1"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.split() == ["experiment", "changed", "params", "shallow", "deep"]
    assert done.stderr == ""


@pytest.mark.parametrize(("status", "stale"), [("{}", False), ('{"train@tiny-42": ["changed deps"]}', True)])
def test_the_workspace_line_is_stale_when_its_stages_did_not_run_with_its_params(monkeypatch, status, stale):
    # A failed or refused `dvc exp run -S` leaves params.yaml changed and the last good metrics in
    # place: the workspace line must not show them as its results.
    table = rows(_shown())
    monkeypatch.setattr(tools.table, "_run", _fake_run({"dvc status": (0, status)}))
    mark_stale_workspace(table)
    workspace = next(row for row in table if row.name == "workspace")
    assert (workspace.state == "stale" and workspace.results == {}) is stale
