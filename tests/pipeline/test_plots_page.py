"""`dvc plots show` and `dvc plots diff` pages in headless Chromium with no network, from a real DVC
repository on tiny synthetic data: every chart draws (Vega comes from .dvc/plots_html/index.html),
a running training's curves are drawn with our template, and four revisions stay apart.

A chart draws when its canvas has coloured pixels (lines and cells are coloured; axes, text and
grid are grey). Skipped when /usr/bin/chromium or /usr/bin/chromedriver is absent.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.browser import NEEDS_CHROMIUM, chromium
from tests.support.dvc import IDENTITY, make_repo, run, sh, start
from tests.support.stages import tiny_params

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    NEEDS_CHROMIUM,
]
# Loaded by every Python the test's DVC starts; holds train@tiny-42 after its second epoch.
SITECUSTOMIZE = """
import os, sys, time

if os.environ.get("DVC_STAGE") == "train@tiny-42" and os.environ.get("LIVE_TEST_GO"):
    from stages.common.progress import LiveHistory

    _append = LiveHistory.__call__

    def _append_then_wait(self, record):
        _append(self, record)
        if record["epoch"] == 2:
            print("live test: waiting after epoch 2", file=sys.stderr, flush=True)
            while not os.path.exists(os.environ["LIVE_TEST_GO"]):
                time.sleep(0.05)

    LiveHistory.__call__ = _append_then_wait
"""
# For each chart DVC embedded: its id and how many of its canvas's pixels are coloured (an empty
# chart, for a missing file, has a canvas of width 0).
COLOURED_PIXELS = """
const done = arguments[arguments.length - 1];
const expected = arguments[0];
const canvases = () => Array.from(document.querySelectorAll(".vega-embed canvas")).filter((c) => c.width > 0);
const count = () => canvases().map((canvas) => {
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let coloured = 0;
  for (let i = 0; i < pixels.length; i += 4) {
    const [r, g, b, a] = pixels.slice(i, i + 4);
    if (a > 0 && Math.max(r, g, b) - Math.min(r, g, b) > 60) coloured += 1;
  }
  return [canvas.closest(".vega-embed").id, coloured];
});
const poll = (tries) => {
  const found = count();
  if ((found.length >= expected && found.every(([, n]) => n > 0)) || tries === 0) done(found);
  else setTimeout(() => poll(tries - 1), 250);
};
poll(120);
"""
EMBEDDED = re.compile(
    r'<div id = "([^"]+)">\s*<script type = "text/javascript">\s*var spec = (.*?);\n\s*vegaEmbed'
)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return make_repo(tmp_path_factory.mktemp("plots"), tiny_params(epochs=4))


@pytest.fixture(scope="module")
def browser():
    with chromium(1300, 3000) as driver:
        yield driver


def charts(page: Path) -> dict[str, dict]:
    """The Vega-Lite spec of every chart DVC put on `page`, by its div's id."""
    return {chart: json.loads(spec) for chart, spec in EMBEDDED.findall(page.read_text(encoding="utf-8"))}


def plotted(repo: Path) -> dict[str, list]:
    """What `dvc plots show --json` gives for each plot of the workspace (missing files give [])."""
    return json.loads(run(repo, "dvc", "plots", "show", "--json").stdout)["data"]


def drawn(browser, page: Path) -> dict[str, int]:
    """Each chart of `page` (by id) and its count of coloured pixels, once Vega has drawn every chart
    that has data (a plot whose file is missing gets an empty one)."""
    browser.get(page.as_uri())
    with_data = [spec for spec in charts(page).values() if spec.get("data")]
    return dict(browser.execute_async_script(COLOURED_PIXELS, len(with_data)))


def test_a_running_training_s_curves_are_drawn_with_our_template_and_gone_after(
    repo, tmp_path, monkeypatch, browser
):
    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks/sitecustomize.py").write_text(SITECUSTOMIZE)
    go = tmp_path / "go"
    monkeypatch.setenv("LIVE_TEST_GO", str(go))
    training = start(repo, "dvc", "repro", "train@tiny-42", hooks=tmp_path / "hooks")
    try:
        for line in training.stdout or []:
            if "live test: waiting after epoch 2" in line:
                break
        shown = plotted(repo)["live/tiny-42.csv"]
        sh(repo, "dvc", "plots", "show", "--out", str(tmp_path / "live-page"))
    finally:
        go.touch()
        output = training.communicate(timeout=300)[0]
    assert training.returncode == 0, output
    spec = shown[0]["content"]
    assert spec["transform"] == [{"fold": ["train_loss", "test_loss"], "as": ["set", "cross-entropy loss"]}]
    assert [row["epoch"] for row in spec["data"]["values"]] == ["1", "2"]  # the epochs so far, 1-based
    history = (repo / "reports/history/tiny-42.csv").read_text().splitlines()
    assert [list(row.values())[:7] for row in spec["data"]["values"]] == [
        line.split(",") for line in history[1:3]
    ]
    assert list((repo / "live").iterdir()) == [repo / "live/README.md"]
    assert not any("live" in plot for plot in plotted(repo))

    page = tmp_path / "live-page/index.html"
    (live_chart,) = [chart for chart, spec in charts(page).items() if spec.get("title") == "live/tiny-42.csv"]
    assert drawn(browser, page)[live_chart] > 0


def test_plots_show_and_a_diff_of_four_revisions_draw_every_chart_offline(repo, tmp_path, browser):
    sh(repo, "dvc", "repro")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", *IDENTITY, "commit", "-q", "-m", "baseline")
    sh(repo, "dvc", "plots", "show", "--out", str(tmp_path / "show"))
    shown = drawn(browser, tmp_path / "show/index.html")
    assert len(shown) == len(charts(tmp_path / "show/index.html")) >= 5
    assert all(coloured > 0 for coloured in shown.values()), shown

    experiments = ["lr-0.02", "lr-0.05", "lr-0.3"]
    for name in experiments:
        sh(repo, "dvc", "exp", "run", "-n", name, "-S", f"train.learning_rate={name.removeprefix('lr-')}")
    sh(repo, "dvc", "plots", "diff", "HEAD", *experiments, "--out", str(tmp_path / "diff"))
    page = tmp_path / "diff/index.html"
    diffed = drawn(browser, page)
    assert len(diffed) == len(charts(page)) and all(coloured > 0 for coloured in diffed.values()), diffed
    # Each curve chart draws four revisions, each with its own dash pattern.
    curves = [spec for spec in charts(page).values() if "strokeDash" in spec.get("encoding", {})]
    assert len(curves) >= 4
    for spec in curves:
        revisions = {row["rev"] for row in spec["data"]["values"]}
        patterns = spec["encoding"]["strokeDash"]["scale"]["range"]
        assert len(revisions) == 4 and len({tuple(pattern) for pattern in patterns[:4]}) == 4
