"""dvc.yaml stays consistent with params.yaml, with the stages' code and with what they read."""

from __future__ import annotations

import ast
import shlex
from pathlib import Path

import yaml

from tests.support import PROJECT

DVC = yaml.safe_load((PROJECT / "dvc.yaml").read_text())
PARAMS = yaml.safe_load((PROJECT / "params.yaml").read_text())
STAGES = DVC["stages"]


def test_overlay_plots_list_every_architecture():
    # Top-level plots cannot use foreach: each overlay must name every architecture's history.
    expected = {
        f"reports/history/{name}-{seed}.csv" for name in PARAMS["architectures"] for seed in PARAMS["seeds"]
    }
    for plot in DVC["plots"]:
        ((name, definition),) = plot.items()
        assert set(definition["y"]) == expected, f"plot {name!r}: list exactly {sorted(expected)}"


def test_each_stage_declares_the_params_it_reads():
    # A stage reading an undeclared key would silently reuse stale results (DVC_NOTES).
    assert STAGES["prepare"]["params"] == ["prepare"]
    # train's seed comes from its command (one item per seed), so adding a seed reruns no other item.
    assert STAGES["train"]["params"] == ["train", "architectures.${item.arch}", "prepare.validation_size"]
    assert "params" not in STAGES["evaluate"]  # the model file carries everything it needs
    assert set(STAGES["report"]["params"]) == {"prepare", "train", "architectures", "seeds"}


def _module_file(module: str) -> str:
    """The file a `stages.…` module lives in: a module file, or a package's __init__.py."""
    path = Path(*module.split("."))
    return (path / "__init__.py" if (PROJECT / path).is_dir() else path.with_suffix(".py")).as_posix()


def _imported_stage_files(script: str, seen: set[str] | None = None) -> set[str]:
    """stages/ files that `script` imports, directly or through other stages modules."""
    seen = set() if seen is None else seen
    for node in ast.walk(ast.parse((PROJECT / script).read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("stages."):
            candidates = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
            for path in (
                _module_file(name) for name in candidates if (PROJECT / _module_file(name)).exists()
            ):
                if path not in seen:
                    seen.add(path)
                    _imported_stage_files(path, seen)
    return seen


def _covered(path: str, deps: list[str]) -> bool:
    """True if `path` is a dep or lies in a folder that is one."""
    return any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in deps)


def _entry_script(name: str) -> str:
    return f"stages/{name}.py" if (PROJECT / f"stages/{name}.py").exists() else f"stages/{name}/__main__.py"


def test_every_stage_depends_on_the_code_it_runs():
    # Changing any module a stage imports reruns it: its script, every stages module it pulls in,
    # and the mlp library (whole, or the one module a data stage uses) are all listed as deps.
    for name, stage in STAGES.items():
        script = _entry_script(name)
        missing = [
            path for path in {script, *_imported_stage_files(script)} if not _covered(path, stage["deps"])
        ]
        assert not missing, f"{name}: add {sorted(missing)} to its deps"
        assert any(dep == "mlp" or dep.startswith("mlp/") for dep in stage["deps"]), f"{name}: add mlp"


def _declared(stage: dict) -> list[str]:
    """Every path a stage declares: deps, outs, metrics and plots."""
    paths = list(stage.get("deps", []))
    for kind in ("outs", "metrics", "plots"):
        paths += [next(iter(entry)) if isinstance(entry, dict) else entry for entry in stage.get(kind, [])]
    return paths


def test_every_path_in_a_command_is_declared():
    # A stage learns its paths from its command only, and DVC tracks each one (no second list in code).
    for name, stage in STAGES.items():
        words = shlex.split(stage["cmd"])[3:]  # after `python -m stages.NAME`
        paths = [word for word in words if "/" in word]
        undeclared = [path for path in paths if not _covered(path, _declared(stage))]
        assert not undeclared, f"{name}: declare {undeclared} in dvc.yaml"


def test_matrix_expands_over_architectures_and_seeds():
    # train and evaluate run once per (architecture, seed) pair of params.yaml.
    for name in ("train", "evaluate"):
        assert DVC["stages"][name]["matrix"] == {"arch": "${architectures}", "seed": "${seeds}"}
