"""dvc.yaml stays consistent with params.yaml and with what the stages read."""

from __future__ import annotations

from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parents[1]
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


def test_every_stage_depends_on_its_own_script_and_modules():
    # Changing a stage's code reruns it: each script and the library are listed as deps.
    stages = DVC["stages"]
    for name in ("fetch", "prepare", "report"):
        assert f"stages/{name}.py" in stages[name]["deps"]
    for name in ("train", "evaluate"):
        deps = stages[name]["do"]["deps"]
        assert f"stages/{name}.py" in deps and "mlp" in deps


def test_foreach_expands_over_the_architectures():
    # train and evaluate run once per architecture key in params.yaml.
    for name in ("train", "evaluate"):
        assert DVC["stages"][name]["foreach"] == "${architectures}"
