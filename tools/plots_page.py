"""The page `dvc plots show` and `dvc plots diff` fill, with Vega inlined so charts draw offline.

DVC's own page loads Vega, Vega-Lite and Vega-Embed from a CDN (dvc_render's VegaRenderer), so
with no network every chart stays blank and nothing warns. `.dvc/config` sets
`plots.html_template` to `.dvc/plots_html/index.html` instead, which this command writes from the
minified builds of the pinned npm packages (BSD-3-Clause; their licences are kept beside the
page). DVC replaces only `{plot_divs}` and `{refresh_tag}` in it; without the scripts
placeholder it adds no CDN script.

    python -m tools.plots_page                 # runs `npm pack` for the pinned versions
    python -m tools.plots_page vega-5.33.1.tgz vega-lite-5.23.0.tgz vega-embed-6.29.0.tgz
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from stages.common.output import write_text
from stages.common.runner import StageError
from tools.entry import run_tool

PAGE = Path(".dvc/plots_html/index.html")
# Package -> (version, its minified browser build), in the order the page loads them. These
# versions accept DVC's Vega-Lite v5 templates (ours in .dvc/plots/ and DVC's built-in ones).
BUNDLES = {
    "vega": ("5.33.1", "build/vega.min.js"),
    "vega-lite": ("5.23.0", "build/vega-lite.min.js"),
    "vega-embed": ("6.29.0", "build/vega-embed.min.js"),
}
# What DVC's str.replace would rewrite, and what would end an inline script early.
FORBIDDEN = re.compile(r"\{(plot_divs|refresh_tag|scripts)\}|</script|<!--|<script", re.IGNORECASE)
TEMPLATE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
{{refresh_tag}}
<title>DVC Plot</title>
<!-- {names}: inlined by `python -m tools.plots_page` so that every chart draws offline
     (BSD-3-Clause, University of Washington Interactive Data Lab; see the LICENSE-* files
     beside this page) -->
{scripts}
<style>
table {{ border-spacing: 15px; }}
</style>
</head>
<body>
{{plot_divs}}
</body>
</html>
"""


def page(bundles: Mapping[str, str]) -> str:
    """The page template with each bundle (package -> its minified JavaScript) in a script element."""
    for name, code in bundles.items():
        if found := FORBIDDEN.search(code):
            raise StageError(f"{name}'s build contains {found[0]!r}, which would break the inlined page")
    names = ", ".join(f"{name} {BUNDLES[name][0]}" for name in bundles)
    scripts = "\n".join(f'<script data-package="{name}">{code}</script>' for name, code in bundles.items())
    return TEMPLATE.format(names=names, scripts=scripts)


def inlined(text: str) -> dict[str, str]:
    """The bundles a page made by `page` carries (package -> JavaScript), to check it is up to date."""
    return dict(re.findall(r'<script data-package="([a-z-]+)">(.*?)</script>', text, re.DOTALL))


def read_tarball(path: Path) -> tuple[str, str, str | None]:
    """(package, its minified build, its LICENSE text or None) from an `npm pack` tarball."""
    with tarfile.open(path) as archive:

        def member(name: str) -> str | None:
            try:
                handle = archive.extractfile(f"package/{name}")
            except KeyError:
                return None
            return handle.read().decode("utf-8") if handle else None

        manifest = json.loads(member("package.json") or "{}")
        name, version = manifest.get("name"), manifest.get("version")
        if name not in BUNDLES or version != BUNDLES[name][0]:
            wanted = ", ".join(f"{package}@{pinned}" for package, (pinned, _) in BUNDLES.items())
            raise StageError(f"{path}: holds {name}@{version}; expected one of {wanted}")
        code = member(BUNDLES[name][1])
        if code is None:
            raise StageError(f"{path}: no {BUNDLES[name][1]} in {name}@{version}")
        return name, code, member("LICENSE")


def npm_pack(folder: Path) -> list[Path]:
    """Download the pinned packages' tarballs into `folder` with npm."""
    specs = [f"{name}@{version}" for name, (version, _) in BUNDLES.items()]
    command = ["npm", "pack", *specs, "--pack-destination", str(folder)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StageError(f"`npm pack {' '.join(specs)}` failed: {done.stderr.strip()}")
    return sorted(folder.glob("*.tgz"))


def build(tarballs: Sequence[Path], target: Path = PAGE) -> list[Path]:
    """Write the page (and each package's LICENSE it ships) beside `target`; return what was written."""
    found = {name: (code, licence) for name, code, licence in map(read_tarball, tarballs)}
    if missing := [name for name in BUNDLES if name not in found]:
        raise StageError(f"no tarball of {', '.join(missing)}")
    write_text(target, page({name: found[name][0] for name in BUNDLES}))
    written = [target]
    for name in BUNDLES:
        if (licence := found[name][1]) is not None:  # vega's tarball has none: LICENSE-vega is kept by hand
            write_text(target.with_name(f"LICENSE-{name}"), licence)
            written.append(target.with_name(f"LICENSE-{name}"))
    return written


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.plots_page", description=__doc__.split("\n\n")[0])
    parser.add_argument("tarballs", nargs="*", type=Path, help="`npm pack` tarballs (default: run npm pack)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        for path in build(args.tarballs or npm_pack(Path(folder))):
            print(f"plots_page: wrote {path}")


if __name__ == "__main__":
    run_tool(main, "plots_page")
