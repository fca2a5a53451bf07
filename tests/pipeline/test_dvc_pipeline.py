"""End to end: the real dvc.yaml in a temporary git repository on tiny synthetic MNIST files.

The fetch stage is the only one not run here (its files are checked against the real MNIST
checksums; tests/stages/test_fetch.py covers it): the test writes tiny IDX files into data/raw and
records them with `dvc commit fetch`, then runs `dvc repro` for everything downstream.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.support import yaml12 as yaml
from tests.support.dvc import IDENTITY, make_repo, run, sh
from tests.support.synthetic import small_params

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return make_repo(tmp_path_factory.mktemp("pipeline"), small_params())


def ran_stages(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


def test_repro_runs_everything_then_nothing(repo):
    # A first repro runs every stage after fetch; a second finds everything up to date.
    first = ran_stages(sh(repo, "dvc", "repro"))
    assert {"prepare", "train@tiny-42", "train@small-42", "evaluate@tiny-42", "evaluate@small-42"} <= first
    assert ran_stages(sh(repo, "dvc", "repro")) == set()
    metrics = sh(repo, "dvc", "metrics", "show", "--json")
    assert "reports/metrics/tiny-42.json" in metrics and "reports/metrics/small-42.json" in metrics


def _output_hashes(repo: Path) -> dict[str, str]:
    """Every output's MD5 as dvc.lock records it."""
    stages = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    return {out["path"]: out["md5"] for stage in stages.values() for out in stage.get("outs", [])}


def test_forced_rerun_is_byte_identical(repo):
    # `dvc repro --force` of training and evaluation records the same bytes for every output but
    # the measured training time (and the report, which shows that time).
    sh(repo, "dvc", "repro")
    before = _output_hashes(repo)
    sh(repo, "dvc", "repro", "--force", "--single-item", "train@tiny-42", "evaluate@tiny-42")
    after = _output_hashes(repo)
    changed = {path for path in before if before[path] != after[path]}
    assert changed <= {"reports/train/tiny-42.json"}, changed


def test_editing_the_network_code_reruns_only_what_runs_it(repo):
    # Exact code deps: a change to mlp/train.py (the training loop) reruns train and what follows,
    # never check, fetch or prepare; a change to mlp/atomic.py, which every stage runs, reruns all.
    sh(repo, "dvc", "repro")
    loop = repo / "mlp/train.py"
    original = loop.read_text()
    loop.write_text(original + "# an edit\n")
    stale = set(json.loads(sh(repo, "dvc", "status", "--json")))
    loop.write_text(original)
    assert {"train@tiny-42", "train@small-42"} <= stale
    assert not stale & {"check", "fetch", "prepare"}, stale
    model = repo / "mlp/model.py"  # check runs it (params name the model file's limits): check reruns,
    original = model.read_text()  # but its output keeps its bytes, so fetch and prepare do not
    model.write_text(original + "# an edit\n")
    stale = set(json.loads(sh(repo, "dvc", "status", "--json")))
    ran = ran_stages(sh(repo, "dvc", "repro"))
    model.write_text(original)
    assert "check" in stale and not stale & {"fetch", "prepare"}, stale
    assert "check" in ran and not ran & {"fetch", "prepare"}, ran
    writer = repo / "mlp/atomic.py"
    writer.write_text(writer.read_text() + "# an edit\n")
    assert {"check", "fetch", "prepare"} <= set(json.loads(sh(repo, "dvc", "status", "--json")))
    writer.write_text(writer.read_text().removesuffix("# an edit\n"))


def test_changing_one_architecture_reruns_only_it_and_switching_back_uses_the_run_cache(repo):
    # Editing architectures.small reruns only small's stages (and what reads every architecture);
    # restoring the old value checks the old results out of the run-cache instead of retraining.
    sh(repo, "dvc", "repro")
    original = (repo / "params.yaml").read_text()
    old_metrics = (repo / "reports/metrics/small-42.json").read_text()
    params = yaml.safe_load(original)
    params["architectures"]["small"]["hidden_sizes"] = [20, 10]
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    changed = ran_stages(sh(repo, "dvc", "repro"))
    assert {"train@small-42", "evaluate@small-42"} <= changed
    assert not changed & {"prepare", "train@tiny-42", "evaluate@tiny-42"}

    (repo / "params.yaml").write_text(original)
    output = sh(repo, "dvc", "repro")
    assert "Stage 'train@small-42' is cached - skipping run" in output
    assert (repo / "reports/metrics/small-42.json").read_text() == old_metrics
    assert json.loads(old_metrics)["accuracy"] > 0.5


def test_experiment_changes_show_in_exp_show_metrics_diff_and_plots(repo):
    # `dvc exp run -S` applies a parameter change; exp show, metrics diff and plots show report it.
    sh(repo, "dvc", "repro")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "baseline")
    sh(repo, "dvc", "exp", "run", "-n", "slower", "-S", "train.learning_rate=0.02")
    experiments = json.loads(sh(repo, "dvc", "exp", "show", "--json"))
    assert "slower" in json.dumps(experiments) and "0.02" in json.dumps(experiments)
    diff = json.loads(sh(repo, "dvc", "metrics", "diff", "--json"))
    assert "reports/metrics/tiny-42.json" in diff and "accuracy" in diff["reports/metrics/tiny-42.json"]
    assert "learning_rate: 0.02" in (repo / "params.yaml").read_text()  # block style kept
    # A queued run that fails (issue 20): DVC lists it with its baseline's metrics, the table as failed.
    sh(repo, "dvc", "exp", "run", "--queue", "-n", "boom", "-S", "train.learning_rate=1e30")
    run(repo, "dvc", "exp", "run", "--run-all")  # waits for the queue; fails with its one run
    table = sh(repo, sys.executable, "-m", "tools.table")  # `make experiments`
    lines = {line.split()[0]: line for line in table.splitlines()}
    assert "train.learning_rate=0.02" in lines["slower"] and lines["slower"].endswith(tuple("0123456789"))
    assert "train.learning_rate=1e+30" in lines["boom"] and lines["boom"].split()[-1] == "failed"
    assert lines["workspace"].split()[1] == "train.learning_rate=0.02"  # `exp run` left it in params.yaml
    assert all(len(line) <= 100 for line in table.splitlines())
    sh(repo, "dvc", "plots", "show", "--out", "plots_html")
    page = (repo / "plots_html" / "index.html").read_text()
    for title in (
        "tiny-42: train and test loss per epoch",
        "tiny-42: confusion matrix",
        "Test accuracy per epoch",
    ):
        assert title in page
    assert "reports_figures_curves_tiny_png" in page  # the report's PNGs as image plots


def _plotted_architectures(repo: Path) -> dict[str, set[str]]:
    """For each plot `dvc plots show` draws from a table, the architectures (or runs) it shows."""
    data = json.loads(sh(repo, "dvc", "plots", "show", "--json"))["data"]
    shown: dict[str, set[str]] = {}
    for plot_id, renders in data.items():
        for render in renders:
            content = render.get("content")
            if render.get("type") == "vega" and isinstance(content, dict):
                rows = content["data"]["values"]
                names = {row["architecture"] for row in rows if "architecture" in row} or {plot_id}
                shown.setdefault(plot_id, set()).update(names)
    return shown


def test_plots_follow_params_when_architectures_are_added_removed_and_renamed(repo):
    # `dvc plots show` draws exactly params.yaml's architectures: a new one appears, a removed or
    # renamed one disappears, with no edit of dvc.yaml and no command but `dvc repro`.
    sh(repo, "dvc", "repro")
    original = (repo / "params.yaml").read_text()
    params = yaml.safe_load(original)
    params["architectures"] = {"tiny": params["architectures"]["tiny"], "wide": {"hidden_sizes": [32]}}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))  # small renamed to wide
    try:
        renamed = ran_stages(sh(repo, "dvc", "repro"))
        assert renamed == {
            "check",
            "train@wide-42",
            "evaluate@wide-42",
            "publish",
            "register",
            "figures",
            "report",
        }, renamed
        shown = _plotted_architectures(repo)
        for combined in ("test_accuracy", "train_accuracy", "test_loss"):
            assert shown[combined] == {"tiny", "wide"}, shown
        per_run = {plot for plot in shown if plot.startswith("reports/")}
        assert per_run == {
            f"reports/{kind}/{run}.csv"
            for kind in ("history", "predictions")
            for run in ("tiny-42", "wide-42")
        }
        # The check stage removed what DVC recorded of small in the same repro, before the report
        # ran (once): no output, dvc.lock entry or .gitignore line of small is left (live/, training's
        # untracked progress, is not DVC's record: `make prune` clears it).
        assert "/small-42.npz" not in (repo / "data/models/.gitignore").read_text()
        assert (
            not [path for path in repo.glob("**/small-42.*") if "live" not in path.parts]
            and "small-42" not in (repo / "dvc.lock").read_text()
        )
        assert ran_stages(sh(repo, "dvc", "repro")) == set()
        assert "up to date" in sh(repo, "dvc", "status")
        assert "0 stale item(s)" in sh(repo, sys.executable, "-m", "tools.prune")
    finally:
        (repo / "params.yaml").write_text(original)


def test_removing_an_architecture_takes_one_repro_and_adding_it_back_uses_the_run_cache(repo):
    # One `dvc repro` after removing small: check removes small's leftovers first, the report runs
    # once, git sees only tracked changes (no untracked file) and `dvc status` is clean; a bad
    # value is refused before anything is removed; adding small back restores it from the run-cache.
    sh(repo, "dvc", "repro")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", *IDENTITY, "commit", "-q", "-m", "with small")
    original = (repo / "params.yaml").read_text()
    params = yaml.safe_load(original)
    del params["architectures"]["small"]
    try:
        (repo / "params.yaml").write_text(yaml.safe_dump(params | {"seeds": [42.5]}, sort_keys=False))
        assert run(repo, "dvc", "repro").returncode != 0  # refused by check: small's files stay
        assert (repo / "data/models/small-42.npz").exists() and "small-42" in (repo / "dvc.lock").read_text()
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        output = sh(repo, "dvc", "repro")
        assert output.count("Running stage 'report'") == 1
        assert ran_stages(output) == {"check", "publish", "register", "figures", "report"}, ran_stages(output)
        status = sh(repo, "git", "status", "--porcelain", "--untracked-files=all").splitlines()
        assert not [line for line in status if line.startswith("??")], status
        assert {line[3:] for line in status if line.startswith(" D")} >= {
            "reports/metrics/small-42.json",
            "reports/history/small-42.csv",
        }
        assert "small-42" not in (repo / "dvc.lock").read_text()
        assert "up to date" in sh(repo, "dvc", "status")
        (repo / "params.yaml").write_text(original)
        back = sh(repo, "dvc", "repro")
        assert "Stage 'train@small-42' is cached - skipping run" in back
        assert (repo / "data/models/small-42.npz").exists() and "up to date" in sh(repo, "dvc", "status")
    finally:
        (repo / "params.yaml").write_text(original)


def test_the_daily_loop_shows_the_result_first_and_reuses_the_figures(repo):
    # dvc exp show: test accuracy is the first metric column, timing is no metric, and two
    # experiments (epochs, then one architecture's sizes) change few columns; dvc metrics show has a
    # row per run and no empty cell; an experiment whose trainings all come from the run-cache also
    # finds its figures there, and only the light report stage runs.
    sh(repo, "dvc", "repro")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", *IDENTITY, "commit", "-q", "-m", "baseline")
    sh(repo, "dvc", "exp", "run", "-n", "short", "-S", "train.epochs=2")
    sh(
        repo,
        "dvc",
        "exp",
        "run",
        "-n",
        "wider",
        "-S",
        "train.epochs=3",
        "-S",
        "architectures.small.hidden_sizes=[32,16]",
    )
    header = sh(repo, "dvc", "exp", "show", "--csv", "--only-changed").splitlines()[0].split(",")
    metrics = [column for column in header if ":" in column]
    assert metrics[0].startswith("reports/metrics/") and metrics[0].endswith(":accuracy"), header
    assert not any(column.startswith("reports/train/") for column in header), header  # no metric
    # The bound (30, also met with the default three architectures); no code file's hash.
    assert len(header) <= 30 and not any(column.endswith(".py") for column in header), header
    table = sh(repo, "dvc", "metrics", "show").splitlines()
    assert len(table) == 1 + 2 and all(" - " not in f" {line} " for line in table), table
    assert max(map(len, table)) <= 100
    # Back to the baseline's params: every training, evaluation and the figures come from the run-cache.
    output = sh(
        repo,
        "dvc",
        "exp",
        "run",
        "-n",
        "again",
        "-S",
        "train.epochs=3",
        "-S",
        "architectures.small.hidden_sizes=[24,12]",
    )
    ran = ran_stages(output)
    assert "report" in ran and not ran & {"figures", "train@small-42", "evaluate@small-42"}, output
    assert "Stage 'figures' is cached - skipping run" in output
    shown = sh(
        repo, "dvc", "exp", "show", "--csv", "--drop", ".*", "--keep", "Experiment|train.epochs|.*:accuracy$"
    )
    assert {"short", "wider", "again"} <= {line.split(",")[0] for line in shown.splitlines()[1:]}, shown
