"""The report stage as a whole: figures, README.md and index.html from synthetic inputs for 1 to N
architectures, local links only, and a clear message when an input is missing or broken."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import mlp
from stages import figures
from stages.common.runner import StageError, run_stage
from stages.report import __main__ as report
from stages.report.figures import most_confident_errors
from stages.report.inputs import KINDS, sources
from tests.support.report import build_project, html_images, png_size
from tests.support.stages import stage_args

SHARED_FIGURES = ["samples", "comparison", "test_accuracy_all", "per_class_f1"]
PER_ARCH_FIGURES = ["curves", "confusion", "confusion_normalized", "predictions", "misclassified", "weights"]
ARGS = stage_args("report")
PATTERNS = {kind: ARGS[ARGS.index(f"--{kind}") + 1] for kind in KINDS}


@dataclass(frozen=True)
class Built:
    root: Path
    names: list[str]
    stdout: str


def _build_and_run(root: Path, names: list[str]) -> Built:
    build_project(root, names)
    stdout = io.StringIO()
    with pytest.MonkeyPatch.context() as monkeypatch, contextlib.redirect_stdout(stdout):
        monkeypatch.chdir(root)
        figures.main(stage_args("figures"))
        report.main(ARGS)
    return Built(root, names, stdout.getvalue())


@pytest.fixture(scope="module")
def solo(tmp_path_factory) -> Built:
    """A report of one architecture; built once per module."""
    return _build_and_run(tmp_path_factory.mktemp("solo"), ["solo"])


@pytest.fixture(scope="module")
def five(tmp_path_factory) -> Built:
    """A report of five architectures in non-alphabetical order."""
    names = ["zeta", "alpha", "mid_1", "b-2", "deep"]
    return _build_and_run(tmp_path_factory.mktemp("five"), names)


@pytest.mark.slow
@pytest.mark.parametrize("built", ["solo", "five"])
def test_report_covers_any_number_of_architectures(built, request):
    # Protects: the report handles 1..N architectures, in params order, with no code change.
    built = request.getfixturevalue(built)
    expected = SHARED_FIGURES + [f"{kind}_{name}" for name in built.names for kind in PER_ARCH_FIGURES]
    figure_folder = built.root / "reports/figures"
    assert sorted(path.name for path in figure_folder.iterdir()) == sorted(f"{name}.png" for name in expected)
    for path in figure_folder.iterdir():
        png_size(path)
    readme = (built.root / "reports/README.md").read_text()
    metrics_table = readme.split("## Metrics")[1].split("## Comparison")[0]
    rows = re.findall(
        r"^\| ([\w\\-]+) \| [01]\.\d{4} \([01]\.\d{4}–[01]\.\d{4}\) \| ", metrics_table, re.MULTILINE
    )
    assert [row.replace("\\", "") for row in rows] == built.names
    page = (built.root / "reports/index.html").read_text()
    sections = re.findall(r'<h2 id="section-\d+">Architecture (.+?)</h2>', page)
    assert sections == built.names
    drawn, summary = built.stdout.strip().splitlines()
    assert drawn == f"figures: {len(expected)} PNGs in reports/figures"
    assert summary.startswith(f"report: {len(built.names)} architecture(s) x 1 seed(s), pages ")


@pytest.mark.slow
def test_html_page_is_self_contained(five):
    # Protects: index.html loads nothing from the network and every image it shows exists beside it;
    # its one loaded script is the drawing pad's weights, the publish stage's output beside it.
    page = five.root / "reports/index.html"
    text = page.read_text(encoding="utf-8")
    images, tags = html_images(page)
    assert not re.search(r"https?:|//[\w.-]+\.\w+/|@import|url\(", text, re.IGNORECASE)
    assert not tags & {"link", "iframe", "object", "embed", "base"}
    assert re.findall(r"<script src=\"([^\"]*)\"", text) == ["pad/models.js"]
    assert len(images) == len(SHARED_FIGURES) + len(five.names) * len(PER_ARCH_FIGURES)
    for src in images:
        assert src.startswith("figures/") and (page.parent / src).is_file(), src


@pytest.mark.slow
def test_markdown_page_links_existing_figures(five):
    # Protects: README.md renders on a Git host: relative image links that all resolve, no absolute URL.
    readme = five.root / "reports/README.md"
    text = readme.read_text(encoding="utf-8")
    sources = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(sources) == len(SHARED_FIGURES) + len(five.names) * len(PER_ARCH_FIGURES)
    assert all(src.startswith("figures/") and (readme.parent / src).is_file() for src in sources)
    assert "http" not in text


@pytest.mark.slow
@pytest.mark.parametrize("page", ["README.md", "index.html"])
def test_pages_show_parameters_metrics_and_reports(five, page):
    # Protects: both pages carry the run's parameters, the metrics table, timings and classification reports.
    text = (five.root / "reports" / page).read_text(encoding="utf-8").replace("\\", "")
    for expected in ("prepare", "test_fraction", "learning_rate", "architectures", "hidden_sizes", "[8]"):
        assert expected in text
    for header in ("test accuracy", "test loss", "macro F1", "parameters", "epochs", "training time"):
        assert header in text
    assert "12.5 s" in text  # every architecture's training time, from its facts file
    assert all(f"Classification report: {name}" in text for name in five.names)
    assert text.count("weighted avg") == len(five.names)
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b|\d\d:\d\d:\d\d", text)  # no timestamps


@pytest.mark.slow
def test_rerun_is_byte_identical_and_drops_stale_figures(solo, monkeypatch):
    # Protects: a forced rerun changes no output byte, and figures of removed architectures disappear.
    before = {path: path.read_bytes() for path in (solo.root / "reports").rglob("*") if path.is_file()}
    stale = solo.root / "reports/figures/curves_removed.png"
    shutil.copy(solo.root / "reports/figures/curves_solo.png", stale)
    monkeypatch.chdir(solo.root)
    figures.main(stage_args("figures"))
    report.main(ARGS)
    after = {path: path.read_bytes() for path in (solo.root / "reports").rglob("*") if path.is_file()}
    assert not stale.exists()
    assert after == before


@pytest.mark.parametrize(
    ("missing", "stage"),
    [(str(source.path), source.stage) for source in sources(PATTERNS, "deep-42").values()],
)
def test_missing_input_names_the_file_and_its_stage(missing, stage, tmp_path, monkeypatch):
    # Protects: a missing input stops the stage before any output, naming the file and the `dvc repro` to run.
    build_project(tmp_path, ["shallow", "deep"])
    (tmp_path / missing).unlink()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StageError) as raised:
        report.main(ARGS)
    assert str(raised.value) == f"{missing} is missing; run `dvc repro {stage}`"
    assert not (tmp_path / "reports/README.md").exists() and not (tmp_path / "reports/figures").exists()


def test_missing_inputs_are_listed_together_and_exit_1(tmp_path, monkeypatch, capsys):
    # Protects: several missing files are reported at once, through run_stage, with exit status 1.
    build_project(tmp_path, ["shallow", "deep"])
    (tmp_path / "data/models/shallow-42.npz").unlink()
    (tmp_path / "reports/metrics/deep-42.json").unlink()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        run_stage(report.main, "report", ARGS)
    assert exited.value.code == 1
    error = capsys.readouterr().err
    assert error.startswith("report: error: 2 inputs are missing")
    assert "data/models/shallow-42.npz (run `dvc repro train@shallow-42`)" in error
    assert "reports/metrics/deep-42.json (run `dvc repro evaluate@deep-42`)" in error


def _break_metrics_json(root: Path) -> None:
    (root / "reports/metrics/deep-42.json").write_text("{not json")


def _drop_loss(root: Path) -> None:
    path = root / "reports/metrics/deep-42.json"
    metrics = json.loads(path.read_text())
    del metrics["loss"]
    path.write_text(json.dumps(metrics))


def _drop_per_class(root: Path) -> None:
    path = root / "reports/classes/deep-42.json"
    classes = json.loads(path.read_text())
    del classes["per_class"]["7"]
    path.write_text(json.dumps(classes))


def _predictions_of_other_data(root: Path) -> None:
    path = root / "reports/predictions/deep-42.csv"
    header, first, *rest = path.read_text().splitlines()
    actual, predicted, probability = first.split(",")
    other = f"{(int(actual) + 1) % 10},{predicted},{probability}"
    path.write_text("\n".join([header, other, *rest]) + "\n")


def _probability_above_one(root: Path) -> None:
    path = root / "reports/predictions/deep-42.csv"
    header, first, *rest = path.read_text().splitlines()
    path.write_text("\n".join([header, first.rsplit(",", 1)[0] + ",1.5", *rest]) + "\n")


def _params_changed_since_training(root: Path) -> None:
    path = root / "params.yaml"
    path.write_text(path.read_text().replace("  epochs: 3\n", "  epochs: 7\n"))


def _drop_history_column(root: Path) -> None:
    (root / "reports/history/deep-42.csv").write_text("epoch,loss\n1,0.5\n")


def _truncate_model(root: Path) -> None:
    path = root / "data/models/deep-42.npz"
    path.write_bytes(path.read_bytes()[:100])


def _settings_of_type(kind: type):
    def damage(root: Path) -> None:
        path = root / "data/models/deep-42.npz"
        model, metadata = mlp.load_model(path)
        mlp.save_model(model, path, metadata=metadata | {"settings": kind("16")})

    damage.__name__ = f"_settings_a_{kind.__name__}"
    return damage


def _nan_accuracy(root: Path) -> None:
    path = root / "reports/metrics/deep-42.json"
    path.write_text(path.read_text().replace('"accuracy": ', '"accuracy": NaN, "was": '))


def _deeply_nested_metrics(root: Path) -> None:
    (root / "reports/metrics/deep-42.json").write_text("[" * 100_000 + "]" * 100_000)


def _history_field_of(length: int):
    def damage(root: Path) -> None:
        # The first epoch's number written long: 1.000... still reads as the float 1.
        path = root / "reports/history/deep-42.csv"
        header, first, *rest = path.read_text().splitlines()
        first = "1." + "0" * (length - 2) + first[first.index(",") :]
        path.write_text("\n".join([header, first, *rest]) + "\n")

    return damage


def _undecodable_classification(root: Path) -> None:
    (root / "reports/classification/deep-42.txt").write_bytes(b"Classification report: \xff\xfe\n")


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (_break_metrics_json, "reports/metrics/deep-42.json is not valid JSON"),
        (_drop_loss, "reports/metrics/deep-42.json lacks numbers for ['loss']"),
        (_drop_per_class, "reports/classes/deep-42.json needs per_class scores"),
        (_predictions_of_other_data, "reports/predictions/deep-42.csv does not match the prepared test set"),
        (_probability_above_one, "reports/predictions/deep-42.csv holds probabilities outside [0, 1]"),
        (_drop_history_column, "reports/history/deep-42.csv is not a table with columns"),
        (
            _params_changed_since_training,
            "data/models/deep-42.npz was trained with other settings than params",
        ),
        (_truncate_model, "data/models/deep-42.npz"),
        (_settings_of_type(list), "data/models/deep-42.npz records settings of type list, not an object"),
        (_settings_of_type(str), "data/models/deep-42.npz records settings of type str, not an object"),
        (_nan_accuracy, "reports/metrics/deep-42.json holds NaN, which is not a number"),
        (_deeply_nested_metrics, "reports/metrics/deep-42.json nests JSON 100000 levels deep"),
        (
            _history_field_of(129 << 10),
            "reports/history/deep-42.csv is not a table of ours (field larger than field limit (64); no "
            "field of ours is over 64 characters)",
        ),
        (_history_field_of(65), "reports/history/deep-42.csv is not a table of ours (field larger than"),
        (_undecodable_classification, "reports/classification/deep-42.txt is not UTF-8 text"),
    ],
    ids=[
        "json",
        "key",
        "per-class",
        "other-data",
        "probability",
        "history",
        "stale-params",
        "model",
        "settings-list",
        "settings-str",
        "nan",
        "deep-json",
        "history-field-128k",
        "history-field-65",
        "classification-not-utf8",
    ],
)
def test_broken_input_names_the_file_and_the_rebuild(damage, named, tmp_path, monkeypatch):
    # Protects: a corrupt, incomplete or stale input gives a StageError naming it and the forced rebuild.
    build_project(tmp_path, ["deep"])
    damage(tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StageError) as raised:
        report.main(ARGS)
    message = str(raised.value)
    assert message.startswith(named)
    rebuild = r"`dvc repro --force --single-item (train|evaluate)@deep-42`, then `dvc repro`$"
    assert re.search(rebuild, message)


def test_a_path_pattern_without_run_is_refused(tmp_path, monkeypatch):
    # Without {run} every run reads the same file: the report showed a tie that never happened.
    build_project(tmp_path, ["shallow", "deep"])
    monkeypatch.chdir(tmp_path)
    args = [
        word.replace("{run}", "deep-42") if word.startswith("reports/metrics/") else word for word in ARGS
    ]
    with pytest.raises(StageError) as raised:
        report.main(args)
    assert str(raised.value).startswith(
        "--metrics reports/metrics/deep-42.json: the path has no {run}, so every run would read this one file"
    )
    assert not (tmp_path / "reports/README.md").exists()


@pytest.mark.slow
def test_several_seeds_add_their_spread_and_its_test(tmp_path, monkeypatch):
    # Protects: with several seeds the page shows each seed's accuracy, mean ± std and the rank-sum
    # tests, while the figures and paired tests use the first seed's runs.
    build_project(tmp_path, ["wide", "narrow"], seeds=[3, 1, 2])
    monkeypatch.chdir(tmp_path)
    figures.main(stage_args("figures"))
    report.main(ARGS)
    readme = (tmp_path / "reports/README.md").read_text().replace("\\", "")
    assert "mean ± std over seeds" in readme and "| seed 3 | seed 1 | seed 2 | mean ± std |" in readme
    assert (
        "p (rank-sum, exact)" in readme and "With 3 seeds per architecture the exact rank-sum test" in readme
    )
    assert "Seed 3's runs" in readme and "(seed 3)" in readme
    assert sorted(path.name for path in (tmp_path / "reports/figures").glob("curves_*")) == [
        "curves_narrow.png",
        "curves_wide.png",
    ]
    with open(tmp_path / "reports/curves.csv", newline="") as handle:  # what dvc.yaml's plots draw
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[:3] == ["architecture", "seed", "epoch"]
    assert {(row["architecture"], row["seed"]) for row in rows} == {
        (arch, str(seed)) for arch in ("wide", "narrow") for seed in (3, 1, 2)
    }
    assert len(rows) == 2 * 3 * 3  # architectures x seeds x epochs


@pytest.mark.slow
def test_the_report_reads_predictions_and_never_runs_a_model(tmp_path, monkeypatch):
    # Protects: what the report shows about predictions is evaluate's record, not a second
    # prediction: with the model's forward pass disabled, the paired counts follow the CSV.
    build_project(tmp_path, ["a", "b"])
    path = tmp_path / "reports/predictions/a-42.csv"
    rows = path.read_text().splitlines()
    # Make run a right on every image: its predictions now differ from what its model would say.
    fixed = [rows[0]] + [f"{row.split(',')[0]},{row.split(',')[0]},0.5" for row in rows[1:]]
    path.write_text("\n".join(fixed) + "\n")
    monkeypatch.setattr(mlp.MLP, "forward", lambda *args, **kwargs: pytest.fail("the report ran a model"))
    monkeypatch.chdir(tmp_path)
    figures.main(stage_args("figures"))
    report.main(ARGS)
    readme = (tmp_path / "reports/README.md").read_text()
    b_right = sum(
        row.split(",")[0] == row.split(",")[1]
        for row in (tmp_path / "reports/predictions/b-42.csv").read_text().splitlines()[1:]
    )
    assert f"| a vs b | {30 - b_right} | 0 |" in readme


def test_most_confident_errors_sorts_by_probability_then_index():
    # Protects: the misclassified gallery shows the most confident mistakes first, ties in test-set order.
    true = np.array([0, 1, 2, 3, 4, 5])
    predicted = np.array([0, 2, 1, 3, 5, 4])  # samples 1, 2, 4 and 5 are wrong
    confidence = np.array([0.99, 0.6, 0.9, 0.95, 0.6, 0.7])
    assert most_confident_errors(true, predicted, confidence, 10).tolist() == [2, 5, 1, 4]
    assert most_confident_errors(true, predicted, confidence, 2).tolist() == [2, 5]
    assert most_confident_errors(true, true, confidence, 10).tolist() == []
