"""Stages and tools as programs (stages/__init__.py): they print in any stdout encoding, and one
started by a Python that lacks the project's dependencies says so in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support import PROJECT
from tests.support.report import build_project
from tests.support.stages import stage_args

# First on PYTHONPATH: the child's imports of MISSING (comma-separated top-level names) fail as
# they do in a Python where those packages are not installed.
SITECUSTOMIZE = """
import os, sys

class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in os.environ["MISSING"].split(","):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
"""


def _run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    hooks = cwd.parent / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    environment = os.environ | {"PYTHONPATH": f"{hooks}{os.pathsep}{PROJECT}", "MISSING": ""} | env
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, env=environment, capture_output=True, timeout=300
    )


def test_the_report_and_a_tool_print_in_an_ascii_terminal(tmp_path):
    # issue 20: under PYTHONIOENCODING=ascii the report failed at its last print (the '–' of its
    # headline), after DVC had deleted its outputs. Now a character the terminal cannot show is
    # written as an escape: the headline, a non-ASCII output path and image name. Also in a C locale.
    root = tmp_path / "espace-de-travail-é"
    build_project(root, ["shallow", "deep"], seeds=[42, 43])
    ascii_terminal = {"PYTHONIOENCODING": "ascii", "LC_ALL": "C", "LANG": "C"}
    figures = _run(root, "stages.figures", *stage_args("figures"), **ascii_terminal)
    assert figures.returncode == 0, figures.stderr
    args = stage_args("report")
    args[args.index("--markdown") + 1] = "reports/RÉSUMÉ.md"
    report = _run(root, "stages.report", *args, **ascii_terminal)
    assert report.returncode == 0, report.stderr
    assert report.stdout.isascii() and b"reports/R\\xc9SUM\\xc9.md" in report.stdout, report.stdout
    assert b"\\u2013" in report.stdout, report.stdout  # the headline's dash
    assert (root / "reports/RÉSUMÉ.md").read_text().startswith("#")

    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    Image.fromarray(digit).save(root / "chiffre-un-é.png")
    predict = _run(
        root,
        "tools.predict",
        "chiffre-un-é.png",
        "--model",
        "data/models/deep-42.npz",
        PYTHONIOENCODING="ascii",
    )
    assert predict.returncode == 0, predict.stderr
    assert predict.stdout.startswith(b"chiffre-un-\\xe9.png: "), predict.stdout


@pytest.mark.parametrize(
    ("module", "missing"),
    [
        ("stages.check", "ruamel"),
        ("stages.report", "numpy"),
        ("stages.fetch", "tqdm"),
        ("tools.table", "ruamel"),
    ],
)
def test_a_python_without_the_dependencies_says_so_in_one_line(tmp_path, module, missing):
    # issue 20: `.venv/bin/dvc repro` without the environment on PATH ran the stages with the system
    # Python: a ModuleNotFoundError traceback. Now one line names the Python, the module and the fix.
    (tmp_path / "work").mkdir()
    result = _run(tmp_path / "work", module, "output", MISSING=missing)
    name = module.split(".")[1]
    assert result.returncode == 1
    assert result.stderr.decode().splitlines() == [
        f"{name}: error: this Python ({sys.executable}) lacks the module {missing!r} the project needs; "
        "activate the project's environment (`source .venv/bin/activate`, after `make install`) or use "
        "`make repro`, then run again"
    ]


def test_a_missing_module_of_our_own_keeps_its_traceback(tmp_path):
    # A bug, not an installation problem: the hook leaves it to Python's own report.
    (tmp_path / "work").mkdir()
    result = _run(tmp_path / "work", "stages.check", "output", MISSING="mlp")
    assert result.returncode == 1 and b"Traceback" in result.stderr
