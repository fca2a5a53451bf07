"""Running git and DVC in a test's temporary repository, as a user would in a terminal."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any


def environment(repo: Path) -> dict[str, str]:
    """The environment DVC runs in: no analytics, and this interpreter first on PATH (DVC_NOTES)."""
    return os.environ | {
        "DVC_NO_ANALYTICS": "1",
        "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": str(repo),
    }


def sh(repo: Path, *command: str) -> str:
    """Run a command in `repo`; return its output, failing the test if it fails."""
    result = subprocess.run(
        command, cwd=repo, env=environment(repo), capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def start(repo: Path, *command: str, **popen: Any) -> subprocess.Popen[str]:
    """Start a command in `repo` in the background, its stderr merged into its stdout."""
    return subprocess.Popen(
        list(command),
        cwd=repo,
        env=environment(repo),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # A runner started in the background (nohup, `&`) ignores SIGINT, and children inherit
        # that; restore the default so Ctrl-C (SIGINT) reaches DVC and its stage as in a terminal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        **popen,
    )


def cache_is_intact(repo: Path) -> bool:
    """Every object in the DVC cache still has the MD5 its name promises."""
    objects = [path for path in (repo / ".dvc/cache/files/md5").rglob("*") if path.is_file()]
    return bool(objects) and all(
        hashlib.md5(path.read_bytes()).hexdigest() == path.parent.name + path.name.removesuffix(".dir")
        for path in objects
    )
