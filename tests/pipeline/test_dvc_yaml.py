"""dvc.yaml stays consistent with params.yaml and with what the stages read."""

from __future__ import annotations

import ast

import yaml

from tests.support import PROJECT

DVC = yaml.safe_load((PROJECT / "dvc.yaml").read_text())
PARAMS = yaml.safe_load((PROJECT / "params.yaml").read_text())


def test_overlay_plots_list_every_architecture():
    # Top-level plots cannot use foreach: each overlay must name every architecture's history.
    expected = {f"reports/history/{name}.csv" for name in PARAMS["architectures"]}
    for plot in DVC["plots"]:
        ((name, definition),) = plot.items()
        assert set(definition["y"]) == expected, f"plot {name!r}: list exactly {sorted(expected)}"


def test_each_stage_declares_the_params_it_reads():
    # A stage reading an undeclared key would silently reuse stale results (DVC_NOTES).
    stages = DVC["stages"]
    assert stages["prepare"]["params"] == ["prepare"]
    assert stages["train"]["do"]["params"] == ["train", "architectures.${key}"]
    assert "params" not in stages["evaluate"]["do"]  # the model file carries everything it needs
    assert set(stages["report"]["params"]) == {"prepare", "train", "architectures"}


def _imported_stage_modules(script: str, seen: set[str] | None = None) -> set[str]:
    """stages/*.py files that `script` imports, directly or through other stages modules."""
    seen = set() if seen is None else seen
    for node in ast.walk(ast.parse((PROJECT / script).read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("stages."):
            path = node.module.replace(".", "/") + ".py"
            if path not in seen:
                seen.add(path)
                _imported_stage_modules(path, seen)
    return seen


def test_every_stage_depends_on_the_code_it_runs():
    # Changing any module a stage imports reruns it: its script, every stages module it pulls in,
    # and the mlp library (whole, or the one module a data stage uses) are all listed as deps.
    stages = DVC["stages"]
    for name, stage in stages.items():
        deps = stage.get("do", stage)["deps"]
        script = f"stages/{name}.py"
        assert {script, *_imported_stage_modules(script)} <= set(deps), f"{name}: add the missing modules"
        assert any(dep == "mlp" or dep.startswith("mlp/") for dep in deps), f"{name}: add mlp"


def test_foreach_expands_over_the_architectures():
    # train and evaluate run once per architecture key in params.yaml.
    for name in ("train", "evaluate"):
        assert DVC["stages"][name]["foreach"] == "${architectures}"
