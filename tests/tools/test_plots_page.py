"""The offline plots page: the committed one is what `python -m tools.plots_page` writes, DVC uses it,
and the generator takes only the pinned packages' builds and what can be inlined safely.
(tests/pipeline/test_plots_page.py draws its charts in headless Chromium.)"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from stages.common.runner import StageError
from tests.support import PROJECT
from tools import plots_page
from tools.plots_page import BUNDLES, PAGE, build, inlined, page

COMMITTED = PROJECT / PAGE


def _tarball(folder: Path, name: str, version: str, code: str, licence: str | None = "BSD") -> Path:
    """A tarball shaped like `npm pack`'s: package/package.json, the build, maybe a LICENSE."""
    path = folder / f"{name}-{version}.tgz"
    members = {"package/package.json": json.dumps({"name": name, "version": version})}
    members |= {f"package/{BUNDLES[name][1]}": code} | ({"package/LICENSE": licence} if licence else {})
    with tarfile.open(path, "w:gz") as archive:
        for member, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_the_committed_page_is_what_the_command_writes_from_the_bundles_it_carries():
    text = COMMITTED.read_text(encoding="utf-8")
    bundles = inlined(text)
    assert list(bundles) == list(BUNDLES)  # vega, then vega-lite, then vega-embed
    assert page(bundles) == text
    for name, (version, _) in BUNDLES.items():
        assert f"{name} {version}" in text
        assert (COMMITTED.parent / f"LICENSE-{name}").read_text().startswith("Copyright (c) 2015")
    assert 'var n="5.23.0"' in bundles["vega-lite"]  # the build's own version string


def test_dvc_fills_the_page_and_adds_no_cdn_script():
    config = (PROJECT / ".dvc/config").read_text()
    assert f"html_template = {PAGE.relative_to('.dvc').as_posix()}" in config
    text = COMMITTED.read_text(encoding="utf-8")
    assert text.count("{plot_divs}") == 1 and "{scripts}" not in text  # DVC adds CDN scripts there
    assert "<script src" not in text and "http" not in text.split("<script", 1)[0]


def test_the_generator_writes_the_page_and_the_licences_it_finds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tarballs = [
        _tarball(
            tmp_path, name, version, f"var {name.replace('-', '_')} = 1;", None if name == "vega" else name
        )
        for name, (version, _) in BUNDLES.items()
    ]
    plots_page.main([str(path) for path in reversed(tarballs)])
    text = PAGE.read_text()
    assert inlined(text) == {name: f"var {name.replace('-', '_')} = 1;" for name in BUNDLES}
    assert sorted(path.name for path in PAGE.parent.iterdir()) == [
        "LICENSE-vega-embed",
        "LICENSE-vega-lite",
        "index.html",
    ]


@pytest.mark.parametrize(
    ("version", "code", "message"),
    [
        ("5.0.0", "1", "holds vega@5.0.0; expected one of vega@5.33.1"),
        ("5.33.1", "x = '</script>'", "would break the inlined page"),
        ("5.33.1", "x = '{plot_divs}'", "would break the inlined page"),
    ],
)
def test_other_versions_and_builds_that_cannot_be_inlined_are_refused(tmp_path, version, code, message):
    others = [
        _tarball(tmp_path, name, pinned, "1") for name, (pinned, _) in BUNDLES.items() if name != "vega"
    ]
    with pytest.raises(StageError, match=message):
        build([_tarball(tmp_path, "vega", version, code), *others], tmp_path / "page.html")
    with pytest.raises(StageError, match="no tarball of vega"):
        build(others, tmp_path / "page.html")
