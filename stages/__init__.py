"""The pipeline of dvc.yaml: one module per stage (fetch, prepare, train, evaluate) and the
report package; what the stages share lives in stages.common.

Also what every stage and tool does as a program (`python -m stages.NAME`, `python -m tools.NAME`,
whose parent packages Python imports with sys.argv[0] set to "-m"; tools/__init__.py imports this):
- It prints in any stdout encoding: a character the terminal cannot show (`PYTHONIOENCODING=ascii`)
  is written as an escape, not raised as an error after DVC has deleted the stage's outputs.
- Started by a Python that lacks the project's dependencies (dvc.yaml's commands run whatever
  `python` is first on PATH: `.venv/bin/dvc repro` without the environment activated runs the
  system's), it says so in one line. A hook, not a list of imports to try: it names whichever
  module is missing, also one imported late, and costs nothing when all are there.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from types import TracebackType

OWN_PACKAGES = ("mlp", "stages", "tools")
ENVIRONMENT_FIX = (
    "activate the project's environment (`source .venv/bin/activate`, after `make install`) "
    "or use `make repro`, then run again"
)


def _missing_dependency(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
    """Another package's module is missing: one line, no traceback (our own missing is a bug)."""
    missing = error.name if isinstance(error, ModuleNotFoundError) else None
    if not missing or missing.split(".")[0] in OWN_PACKAGES:
        sys.__excepthook__(kind, error, trace)
        return
    script = Path(sys.argv[0])  # by now the path of the module run, e.g. stages/report/__main__.py
    name = script.parent.name if script.stem == "__main__" else script.stem
    print(
        f"{name}: error: this Python ({sys.executable}) lacks the module {missing!r} the project "
        f"needs; {ENVIRONMENT_FIX}",
        file=sys.stderr,
    )


if sys.argv[:1] == ["-m"]:
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    sys.excepthook = _missing_dependency
