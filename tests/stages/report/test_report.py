"""Tests of the report stage: each figure is a deterministic PNG of a known size, and the whole
report (figures, README.md, index.html) builds from synthetic inputs for 1 to N architectures,
links only local files, and stops with a clear message when an input is missing or broken."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import yaml
from sklearn.metrics import classification_report

import mlp
from stages.common.output import write_csv, write_json, write_text
from stages.common.prepared import save_split
from stages.common.runner import StageError, run_stage
from stages.evaluate import score
from stages.report import __main__ as report
from stages.report import charts as figures
from stages.report import galleries
from stages.report.inputs import inputs
from stages.report.markup import Heading, Image, Paragraph, Preformatted, Table, to_html, to_markdown
from tests.support import PROJECT

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
N_TRAIN, N_TEST, EPOCHS = 40, 30, 3
SHARED_FIGURES = ["samples", "comparison", "test_accuracy_all", "per_class_f1"]
PER_ARCH_FIGURES = ["curves", "confusion", "confusion_normalized", "predictions", "misclassified", "weights"]


# ---------------------------------------------------------------- synthetic inputs


def build_project(root: Path, names: Sequence[str], timed: Sequence[str] = ()) -> None:
    """Write every input of the report stage for architectures `names` into `root`, as the earlier
    stages would; architectures in `timed` also get a logs/train-NAME.json of 12.5 s."""
    rng = np.random.default_rng(0)
    X_train, y_train = rng.random((N_TRAIN, 784), dtype=np.float32), np.arange(N_TRAIN) % 10
    X_test, y_test = rng.random((N_TEST, 784), dtype=np.float32), rng.integers(0, 10, N_TEST)
    save_split(root / "data/prepared", "train", X_train, y_train)
    save_split(root / "data/prepared", "test", X_test, y_test)
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    params["train"]["epochs"] = EPOCHS
    params["architectures"] = {name: {"hidden_sizes": [8]} for name in names}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (root / "data/models").mkdir(parents=True)
    for i, name in enumerate(names):
        model = mlp.MLP([784, 8, 10], np.random.default_rng(i))
        mlp.save_model(model, root / f"data/models/{name}.npz", metadata={"architecture": name})
        losses = {"loss": 2.3, "train_loss": 2.2, "test_loss": 2.4}
        history = [
            {
                "epoch": e,
                "learning_rate": 0.1,
                "train_accuracy": 0.2 * e,
                "test_accuracy": 0.15 * e + 0.01 * i,
            }
            | {key: value / e for key, value in losses.items()}
            for e in range(1, EPOCHS + 1)
        ]
        write_csv(root / f"reports/history/{name}.csv", list(history[0]), history)
        metrics, predicted = score(model, X_test, y_test)
        write_json(root / f"reports/metrics/{name}.json", metrics)
        train = {
            "epochs": EPOCHS,
            "n_parameters": model.n_parameters,
            "train_loss": 0.7,
            "train_accuracy": 0.6,
        }
        write_json(root / f"reports/train/{name}.json", train)
        text = classification_report(y_test, predicted, labels=list(range(10)), digits=4, zero_division=0)
        write_text(root / f"reports/classification/{name}.txt", f"Classification report: {name}\n\n{text}")
        if name in timed:
            write_json(root / f"logs/train-{name}.json", {"seconds": 12.5})


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG file from its IHDR chunk, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert matplotlib.image.imread(path).shape[:2] == (height, width)  # the whole file decodes
    return width, height


class _Links(HTMLParser):
    """Collects every <img src> and every tag name of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"] or "")


def html_images(page: Path) -> tuple[list[str], set[str]]:
    """The <img> sources and the tag names of an HTML file."""
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.images, parser.tags


# ---------------------------------------------------------------- figure functions

RNG = np.random.default_rng(0)
IMAGES = RNG.random((12, 784), dtype=np.float32)
STANDARDISED = ((IMAGES - IMAGES.mean(axis=0)) / (IMAGES.std(axis=0) + 1e-8)).astype(np.float32)
LABELS = np.arange(12) % 10
WEIGHTS = RNG.normal(scale=0.1, size=(784, 40))
COUNTS = RNG.integers(0, 20, (10, 10))
COUNTS[3] = 0  # a class absent from the test set must not give NaN when rows are normalised
EPOCH_RANGE = np.arange(1.0, 6.0)
CURVE = np.linspace(0.5, 0.9, 5)


def _curves(path: Path, epochs: np.ndarray = EPOCH_RANGE, values: np.ndarray = CURVE) -> None:
    figures.plot_curves(epochs, 1 - values, 1 - values, 1.1 - values, values, values - 0.05, "shallow", path)


FIGURE_CASES = [
    pytest.param(lambda p: galleries.plot_samples(IMAGES[:10], LABELS[:10], p), (1000, 480), id="samples"),
    pytest.param(
        lambda p: galleries.plot_samples(STANDARDISED[:3], LABELS[:3], p), (1000, 480), id="samples-std"
    ),
    pytest.param(_curves, (1200, 450), id="curves"),
    pytest.param(lambda p: _curves(p, EPOCH_RANGE[:1], CURVE[:1]), (1200, 450), id="curves-one-epoch"),
    pytest.param(
        lambda p: figures.plot_test_accuracy_all(
            {"a": (EPOCH_RANGE, CURVE), "b": (EPOCH_RANGE, CURVE**2)}, p
        ),
        (800, 500),
        id="test-accuracy-all",
    ),
    pytest.param(lambda p: figures.plot_confusion(COUNTS, "deep", p), (700, 600), id="confusion"),
    pytest.param(
        lambda p: figures.plot_confusion_normalized(COUNTS, "deep", p), (700, 600), id="confusion-norm"
    ),
    pytest.param(
        lambda p: galleries.plot_predictions(IMAGES, LABELS, (LABELS + (LABELS > 6)) % 10, "deep", p),
        (1000, 480),
        id="predictions",
    ),
    pytest.param(
        lambda p: galleries.plot_misclassified(IMAGES[:4], LABELS[:4], LABELS[1:5], CURVE[:4], "deep", p),
        (1000, 520),
        id="misclassified",
    ),
    pytest.param(
        lambda p: galleries.plot_misclassified(IMAGES[:0], LABELS[:0], LABELS[:0], CURVE[:0], "deep", p),
        (1000, 520),
        id="misclassified-none",
    ),
    pytest.param(lambda p: galleries.plot_weights(WEIGHTS, "deep", p), (1200, 660), id="weights"),
    pytest.param(
        lambda p: galleries.plot_weights(np.zeros((784, 5)), "deep", p), (1200, 660), id="weights-5-zero"
    ),
    pytest.param(
        lambda p: figures.plot_comparison(
            ["s", "m", "d"], [0.9, 0.95, 1.0], [101770, 109386, 242762], [3.5, None, 9.0], p
        ),
        (600, 500),
        id="comparison-3",
    ),
    pytest.param(
        lambda p: figures.plot_comparison(list("abcde"), [0.5] * 5, [10] * 5, [None] * 5, p),
        (900, 500),
        id="comparison-5",
    ),
    pytest.param(
        lambda p: figures.plot_per_class_f1({"a": CURVE.tolist() * 2, "b": (CURVE**2).tolist() * 2}, p),
        (1100, 480),
        id="per-class-f1",
    ),
]


@pytest.mark.parametrize(("draw", "size"), FIGURE_CASES)
def test_figure_is_a_reproducible_png_of_its_size(draw, size, tmp_path):
    # Protects: every figure function writes a valid PNG of a fixed pixel size, byte-identical on a redraw.
    first, second = tmp_path / "first.png", tmp_path / "second.png"
    draw(first)
    draw(second)
    assert png_size(first) == size
    assert first.read_bytes() == second.read_bytes()
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "first.png",
        "second.png",
    ]  # no temporary files


def test_galleries_reject_images_that_are_not_square(tmp_path):
    # Protects: a feature count that is no square image fails loudly instead of drawing garbage.
    with pytest.raises(ValueError, match="square"):
        galleries.plot_samples(np.zeros((2, 780), dtype=np.float32), LABELS[:2], tmp_path / "x.png")
    assert not list(tmp_path.iterdir())


def test_most_confident_errors_sorts_by_probability_then_index():
    # Protects: the misclassified gallery shows the most confident mistakes first, ties in test-set order.
    true = np.array([0, 1, 2, 3, 4, 5])
    predicted = np.array([0, 2, 1, 3, 5, 4])  # samples 1, 2, 4 and 5 are wrong
    confidence = np.array([0.99, 0.6, 0.9, 0.95, 0.6, 0.7])
    assert report.most_confident_errors(true, predicted, confidence, 10).tolist() == [2, 5, 1, 4]
    assert report.most_confident_errors(true, predicted, confidence, 2).tolist() == [2, 5]
    assert report.most_confident_errors(true, true, confidence, 10).tolist() == []


def test_markup_escapes_text_for_both_formats():
    # Protects: names and values cannot break a Markdown table or inject HTML.
    blocks = [
        Heading(1, "a <b>"),
        Paragraph("x_y *z*"),
        Table(["k", "v"], [["a|b", "[1, 2]"]]),
        Image("figures/a.png", "cap <i>"),
        Preformatted("```\n<pre>"),
    ]
    markdown, page = to_markdown(blocks), to_html("t", blocks)
    assert "| a\\|b | \\[1, 2\\] |" in markdown
    assert "x\\_y \\*z\\*" in markdown
    assert "````text\n```\n<pre>\n````" in markdown  # the fence outgrows any backtick run inside
    assert "<b>" not in page and "<i>" not in page and "&lt;pre&gt;" in page
    assert '<img src="figures/a.png" alt="cap &lt;i&gt;">' in page


# ---------------------------------------------------------------- the whole stage


@dataclass(frozen=True)
class Built:
    root: Path
    names: list[str]
    stdout: str


def _build_and_run(root: Path, names: list[str], timed: list[str]) -> Built:
    build_project(root, names, timed)
    stdout = io.StringIO()
    with pytest.MonkeyPatch.context() as monkeypatch, contextlib.redirect_stdout(stdout):
        monkeypatch.chdir(root)
        report.main(["reports"])
    return Built(root, names, stdout.getvalue())


@pytest.fixture(scope="module")
def solo(tmp_path_factory) -> Built:
    """A report of one architecture, with a timing log; built once per module."""
    return _build_and_run(tmp_path_factory.mktemp("solo"), ["solo"], timed=["solo"])


@pytest.fixture(scope="module")
def five(tmp_path_factory) -> Built:
    """A report of five architectures in non-alphabetical order, two of them with timing logs."""
    names = ["zeta", "alpha", "mid_1", "b-2", "deep"]
    return _build_and_run(tmp_path_factory.mktemp("five"), names, timed=["zeta", "deep"])


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
    metrics_table = readme.split("## Metrics")[1].split("## Parameters")[0]
    rows = re.findall(r"^\| ([\w\\-]+) \| 0\.\d{4} \| ", metrics_table, re.MULTILINE)
    assert [row.replace("\\", "") for row in rows] == built.names
    page = (built.root / "reports/index.html").read_text()
    sections = re.findall(r'<h2 id="section-\d+">Architecture (.+?)</h2>', page)
    assert sections == built.names
    summary = built.stdout.strip().splitlines()
    assert len(summary) == 1
    assert summary[0].startswith(f"report: {len(built.names)} architecture(s), {len(expected)} figures")


def test_html_page_is_self_contained(five):
    # Protects: index.html loads nothing from the network and every image it shows exists beside it.
    page = five.root / "reports/index.html"
    text = page.read_text(encoding="utf-8")
    images, tags = html_images(page)
    assert not re.search(r"https?:|//[\w.-]+\.\w+/|@import|url\(", text, re.IGNORECASE)
    assert not tags & {"script", "link", "iframe", "object", "embed", "base"}
    assert len(images) == len(SHARED_FIGURES) + len(five.names) * len(PER_ARCH_FIGURES)
    for src in images:
        assert src.startswith("figures/") and (page.parent / src).is_file(), src


def test_markdown_page_links_existing_figures(five):
    # Protects: README.md renders on a Git host: relative image links that all resolve, no absolute URL.
    readme = five.root / "reports/README.md"
    text = readme.read_text(encoding="utf-8")
    sources = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(sources) == len(SHARED_FIGURES) + len(five.names) * len(PER_ARCH_FIGURES)
    assert all(src.startswith("figures/") and (readme.parent / src).is_file() for src in sources)
    assert "http" not in text


@pytest.mark.parametrize("page", ["README.md", "index.html"])
def test_pages_show_parameters_metrics_and_reports(five, page):
    # Protects: both pages carry the run's parameters, the metrics table, timings and classification reports.
    text = (five.root / "reports" / page).read_text(encoding="utf-8").replace("\\", "")
    for expected in ("prepare", "test_fraction", "learning_rate", "architectures", "hidden_sizes", "[8]"):
        assert expected in text
    for header in ("test accuracy", "test loss", "macro F1", "parameters", "epochs", "training time"):
        assert header in text
    assert "12.5 s" in text and "n/a" in text  # zeta and deep have timing logs, the others none
    assert all(f"Classification report: {name}" in text for name in five.names)
    assert text.count("weighted avg") == len(five.names)
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b|\d\d:\d\d:\d\d", text)  # no timestamps


def test_rerun_is_byte_identical_and_drops_stale_figures(solo, monkeypatch):
    # Protects: a forced rerun changes no output byte, and figures of removed architectures disappear.
    before = {path: path.read_bytes() for path in (solo.root / "reports").rglob("*") if path.is_file()}
    stale = solo.root / "reports/figures/curves_removed.png"
    shutil.copy(solo.root / "reports/figures/curves_solo.png", stale)
    monkeypatch.chdir(solo.root)
    report.main(["reports"])
    after = {path: path.read_bytes() for path in (solo.root / "reports").rglob("*") if path.is_file()}
    assert not stale.exists()
    assert after == before


def _inputs_of(name: str) -> list[pytest.ParameterSet]:
    cases = [pytest.param("data/prepared/test.npz", "prepare", id="prepared")]
    return cases + [
        pytest.param(str(source.path), source.stage, id=key) for key, source in inputs(name).items()
    ]


@pytest.mark.parametrize(("missing", "stage"), _inputs_of("deep"))
def test_missing_input_names_the_file_and_its_stage(missing, stage, tmp_path, monkeypatch):
    # Protects: a missing input stops the stage before any output, naming the file and the `dvc repro` to run.
    build_project(tmp_path, ["shallow", "deep"])
    (tmp_path / missing).unlink()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StageError) as raised:
        report.main(["reports"])
    assert str(raised.value) == f"{missing} is missing; run `dvc repro {stage}`"
    assert not (tmp_path / "reports/README.md").exists() and not (tmp_path / "reports/figures").exists()


def test_missing_inputs_are_listed_together_and_exit_1(tmp_path, monkeypatch, capsys):
    # Protects: several missing files are reported at once, through run_stage, with exit status 1.
    build_project(tmp_path, ["shallow", "deep"])
    (tmp_path / "data/models/shallow.npz").unlink()
    (tmp_path / "reports/metrics/deep.json").unlink()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        run_stage(report.main, "report", ["reports"])
    assert exited.value.code == 1
    error = capsys.readouterr().err
    assert error.startswith("report: error: 2 inputs are missing")
    assert "data/models/shallow.npz (run `dvc repro train@shallow`)" in error
    assert "reports/metrics/deep.json (run `dvc repro evaluate@deep`)" in error


def _break_metrics_json(root: Path) -> None:
    (root / "reports/metrics/deep.json").write_text("{not json")


def _drop_macro_f1(root: Path) -> None:
    path = root / "reports/metrics/deep.json"
    metrics = json.loads(path.read_text())
    del metrics["macro_f1"]
    path.write_text(json.dumps(metrics))


def _drop_per_class(root: Path) -> None:
    path = root / "reports/metrics/deep.json"
    metrics = json.loads(path.read_text())
    del metrics["per_class"]["7"]
    path.write_text(json.dumps(metrics))


def _stale_accuracy(root: Path) -> None:
    path = root / "reports/metrics/deep.json"
    metrics = json.loads(path.read_text())
    metrics["accuracy"] += 0.1
    path.write_text(json.dumps(metrics))


def _drop_history_column(root: Path) -> None:
    (root / "reports/history/deep.csv").write_text("epoch,loss\n1,0.5\n")


def _truncate_model(root: Path) -> None:
    path = root / "data/models/deep.npz"
    path.write_bytes(path.read_bytes()[:100])


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (_break_metrics_json, "reports/metrics/deep.json is not valid JSON"),
        (_drop_macro_f1, "reports/metrics/deep.json lacks numbers for ['macro_f1']"),
        (_drop_per_class, "reports/metrics/deep.json needs per_class scores"),
        (_stale_accuracy, "reports/metrics/deep.json says test accuracy"),
        (_drop_history_column, "reports/history/deep.csv is not a history"),
        (_truncate_model, "data/models/deep.npz"),
    ],
    ids=["json", "key", "per-class", "stale", "history", "model"],
)
def test_broken_input_names_the_file_and_the_rebuild(damage, named, tmp_path, monkeypatch):
    # Protects: a corrupt, incomplete or stale input gives a StageError naming it and the forced rebuild.
    build_project(tmp_path, ["deep"])
    damage(tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StageError) as raised:
        report.main(["reports"])
    message = str(raised.value)
    assert message.startswith(named)
    assert re.search(r"`dvc repro --force (train|evaluate)@deep`$", message)


def test_unreadable_timing_log_shows_as_not_available(tmp_path, monkeypatch, capsys):
    # Protects: a damaged, untracked timing log never fails the report; the time shows as n/a with a warning.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs/train-deep.json").write_text('{"seconds": "soon"}')
    (tmp_path / "logs/train-wide.json").write_text('{"seconds": 3.25}')
    from stages.report.inputs import _read_seconds

    assert _read_seconds("deep") is None and _read_seconds("wide") == 3.25 and _read_seconds("none") is None
    assert "ignoring logs/train-deep.json" in capsys.readouterr().err
    assert figures.format_seconds(None) == "n/a" and figures.format_seconds(3.25) == "3.2 s"


def test_dvc_report_stage_declares_what_the_stage_reads():
    # Protects: dvc.yaml's report stage (once added) lists the report modules and the params sections read.
    stages = yaml.safe_load((PROJECT / "dvc.yaml").read_text())["stages"]
    if "report" not in stages:
        pytest.skip("dvc.yaml has no report stage yet")
    stage = stages["report"]
    deps = set(stage["deps"])
    modules = {
        f"stages/{name}.py"
        for name in ("report", "report_inputs", "report_page", "report_markup", "figures", "galleries")
    }
    assert modules <= deps
    assert {
        "data/prepared",
        "data/models",
        "reports/history",
        "reports/metrics",
        "reports/train",
        "reports/classification",
    } <= deps
    assert set(stage["params"]) == {"architectures", "prepare", "train"}
    assert stage["cmd"].split()[-1] == "reports"
