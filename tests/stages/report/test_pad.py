"""The report page's drawing pad in a real headless Chromium, driven by Selenium and chromedriver.

Strokes are drawn with real pointer input; the pad's preprocessing must give the pixels
stages.common.handwriting gives for the same canvas, and its probabilities must be the Python
model's. Skipped when /usr/bin/chromium or /usr/bin/chromedriver is absent.
"""

from __future__ import annotations

import base64
import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mlp
from stages import figures, publish
from stages.common.handwriting import to_mnist
from stages.report import __main__ as report
from tests.support.browser import NEEDS_CHROMIUM, chromium
from tests.support.report import build_project
from tests.support.stages import stage_args
from tests.support.synthetic import synthetic_images
from tools.predict import read_gray

pytestmark = [
    pytest.mark.slow,
    NEEDS_CHROMIUM,
]
RUNS = ["deep-42", "wide-42"]


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    """A report page with its pad's weights, for two architectures."""
    root = tmp_path_factory.mktemp("pad")
    build_project(root, ["deep", "wide"])
    with contextlib.chdir(root):
        (root / "dvc.yaml").write_text("stages: {}\n")
        publish.main(stage_args("publish"))
        figures.main(stage_args("figures"))
        report.main(stage_args("report"))
    return root / "reports/index.html"


@pytest.fixture(scope="module")
def browser():
    with chromium(1200, 1600) as driver:
        yield driver


def _classifiers(page: Path) -> dict[str, mlp.Classifier]:
    return {run: mlp.load_classifier(page.parents[1] / f"data/models/{run}.npz") for run in RUNS}


def test_a_test_digit_loaded_into_the_pad_gets_python_s_probabilities(page, browser):
    browser.get(page.as_uri())
    images, _ = synthetic_images(3, seed=5)
    for digit in images:
        shown = browser.execute_script("return window.pad.load(arguments[0]);", digit.ravel().tolist())
        for result in shown:
            expected = _classifiers(page)[result["run"]].predict_proba(digit[None])[0]
            assert np.allclose(result["p"], expected, rtol=0, atol=1e-5), result["run"]
    assert browser.find_element("id", "pad-status").text == ""


def _draw(browser, strokes: list[list[tuple[int, int]]]) -> None:
    """Draw each stroke with the pointer held down, in canvas pixels from its top-left corner."""
    from selenium.webdriver.common.action_chains import ActionChains

    canvas = browser.find_element("id", "pad-canvas")
    half = canvas.size["width"] // 2, canvas.size["height"] // 2
    for stroke in strokes:
        actions = ActionChains(browser, duration=10)
        actions.move_to_element_with_offset(
            canvas, stroke[0][0] - half[0], stroke[0][1] - half[1]
        ).click_and_hold()
        for (x0, y0), (x1, y1) in zip(stroke, stroke[1:], strict=False):
            actions.move_by_offset(x1 - x0, y1 - y0)
        actions.release().perform()


def test_drawn_strokes_are_read_as_python_reads_the_same_picture(page, browser):
    browser.get(page.as_uri())
    _draw(browser, [[(70, 60), (210, 60), (190, 110), (150, 170), (120, 240)]])  # a seven
    data_url = browser.execute_script("return document.getElementById('pad-canvas').toDataURL('image/png');")
    canvas = Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1])))
    canvas.save(page.parent / "drawn.png")
    expected = to_mnist(read_gray(page.parent / "drawn.png"))
    seen = np.array(browser.execute_script("return Array.from(window.pad.input);"), np.uint8).reshape(28, 28)
    assert np.abs(seen.astype(int) - expected).max() <= 1  # the same steps; float sums may round apart
    digits = {
        cell.get_attribute("data-run"): cell.text for cell in browser.find_elements("class name", "pad-digit")
    }
    assert digits == {
        run: classifier.contract.labels[classifier.predict_proba(seen[None])[0].argmax()]
        for run, classifier in _classifiers(page).items()
    }
    browser.find_element("id", "pad-clear").click()
    assert browser.find_elements("class name", "pad-digit") == []


def test_without_its_weights_the_pad_says_how_to_get_them(page, browser, tmp_path):
    weights = page.parent / "pad/models.js"
    kept = weights.read_bytes()
    weights.unlink()
    try:
        browser.get(page.as_uri())
        assert "dvc pull reports/pad/models.js" in browser.find_element("id", "pad-status").text
    finally:
        weights.write_bytes(kept)
