"""Running git and DVC in a test's temporary repository, as a user would in a terminal."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.stages import params_text
from tests.support.synthetic import copy_project, write_raw

IDENTITY = ("-c", "user.name=t", "-c", "user.email=t@t")  # for git commit in a test repository
# Without a configured identity, `dvc exp run` in a workspace with changes cannot stash them.
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
}
# Outside settings that would change what DVC and git do in a test repository.
LEAKY = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "DVC_STUDIO_TOKEN")


def environment(repo: Path, hooks: Path | None = None) -> dict[str, str]:
    """The environment DVC runs in: no analytics, and this interpreter first on PATH (DVC_NOTES);
    a `hooks` folder (a sitecustomize.py) goes first on PYTHONPATH of every Python it starts.

    The same wherever the tests run: DVC runs stage commands with $SHELL, pinned to /bin/sh (on
    Debian, dash stays alive as the stage's parent, as on CI); a git identity; no user or system
    DVC config (both are looked for in an empty folder under the repository's .dvc/tmp).
    """
    config_home = repo / ".dvc" / "tmp" / "config-home"
    kept = {key: value for key, value in os.environ.items() if key not in LEAKY}
    return (
        kept
        | GIT_IDENTITY
        | {
            "DVC_GLOBAL_CONFIG_DIR": str(config_home),
            "DVC_NO_ANALYTICS": "1",
            "DVC_STUDIO_OFFLINE": "1",
            "DVC_SYSTEM_CONFIG_DIR": str(config_home),
            "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": os.pathsep.join(str(path) for path in (hooks, repo) if path is not None),
            "SHELL": "/bin/sh",
        }
    )


def make_repo(repo: Path, params: dict) -> Path:
    """A git and DVC repository of the project's code at `repo`, with `params` and tiny synthetic
    MNIST files recorded as fetch's output (fetch itself would check the real checksums)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    copy_project(repo)
    (repo / "params.yaml").write_text(params_text(params))
    sh(repo, "git", "init", "-q")
    sh(repo, "git", *IDENTITY, "commit", "-q", "--allow-empty", "-m", "init")
    write_raw(repo / "data" / "raw")
    sh(repo, "dvc", "repro", "check")
    sh(repo, "dvc", "commit", "--force", "fetch")
    return repo


def run(repo: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """Run a command in `repo` and return what it did, whether it failed or not."""
    return subprocess.run(
        command, cwd=repo, env=environment(repo), capture_output=True, text=True, timeout=600
    )


def sh(repo: Path, *command: str) -> str:
    """Run a command in `repo`; return its output, failing the test if it fails."""
    result = run(repo, *command)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def start(repo: Path, *command: str, hooks: Path | None = None, **popen: Any) -> subprocess.Popen[str]:
    """Start a command in `repo` in the background, its stderr merged into its stdout."""
    return subprocess.Popen(
        list(command),
        cwd=repo,
        env=environment(repo, hooks),
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
