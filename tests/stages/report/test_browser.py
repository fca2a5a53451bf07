"""Opens the report's index.html in headless Chromium, offline, and checks every figure really loads.

The page itself carries no script. The test appends a tiny probe to a copy of it, beside the
original so relative image paths still resolve; after the load event the probe writes each
image's status into the DOM, which Chromium dumps. Skipped when /usr/bin/chromium is absent.
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from stages import figures
from stages.report import __main__ as report
from tests.support.report import build_project, html_images, png_size
from tests.support.stages import stage_args

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install -y chromium, as .ci/run does)"
    ),
]

# Writes "loaded WIDTHxHEIGHT SRC" or "broken SRC" per image once everything has loaded (test-only).
PROBE = """<script>
window.addEventListener("load", () => {
  const out = document.createElement("pre");
  out.id = "image-probe";
  out.textContent = Array.from(document.images, (img) =>
    (img.complete && img.naturalWidth > 0 ? `loaded ${img.naturalWidth}x${img.naturalHeight}` : "broken")
    + " " + img.getAttribute("src")).join("\\n");
  document.body.appendChild(out);
});
</script>
"""


def dump_dom(page: Path, profile: Path) -> subprocess.CompletedProcess[str]:
    """The DOM of `page` after load, from headless Chromium with networking and extras switched off."""
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",  # containers often give /dev/shm 64 MB, too little for a renderer
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # any network fetch would fail, not hang
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",
        "--dump-dom",
        page.as_uri(),
    ]
    # Its own process group, so a hang guard's kill also reaches the renderer and zygote children.
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as browser:
        try:
            out, err = browser.communicate(timeout=120)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(browser.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(command, browser.returncode, out, err)


def test_every_figure_loads_in_headless_chromium(tmp_path, monkeypatch):
    # Protects: index.html opened offline in a real browser shows every figure at its true size, none broken.
    build_project(tmp_path, ["deep"])
    monkeypatch.chdir(tmp_path)
    figures.main(stage_args("figures"))
    report.main(stage_args("report"))
    page = tmp_path / "reports/index.html"
    probe = page.with_name("browser-probe.html")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")

    result = dump_dom(probe, tmp_path / "chromium-profile")
    found = re.search(r'<pre id="image-probe">(.*?)</pre>', result.stdout, re.DOTALL)
    assert found, f"the probe did not run (exit {result.returncode}):\n{result.stderr[-3000:]}"
    statuses = html.unescape(found.group(1)).splitlines()
    sources, _ = html_images(page)
    expected = [f"loaded {'x'.join(map(str, png_size(page.parent / src)))} {src}" for src in sources]
    assert statuses == expected
