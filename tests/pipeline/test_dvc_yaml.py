"""dvc.yaml stays consistent with params.yaml, with the stages' code and with what they read."""

from __future__ import annotations

import ast
import shlex
import shutil
import subprocess

import pytest

from stages.train import LIVE
from tests.support import PROJECT
from tests.support import yaml12 as yaml
from tests.support.imports import PACKAGES, import_closure
from tests.support.stages import MODULES, run_stage_in_process, tiny_params
from tests.support.synthetic import make_workspace

DVC = yaml.safe_load((PROJECT / "dvc.yaml").read_text())
PARAMS = yaml.safe_load((PROJECT / "params.yaml").read_text())
STAGES = DVC["stages"]


def test_combined_plots_draw_one_table_that_follows_params():
    # The plots over all architectures read the report's long table with our template, so no
    # architecture is named here: adding or removing one needs no edit of dvc.yaml. The one other
    # top-level plot is training's live folder, drawn like each run's own history.
    for plot in DVC["plots"]:
        ((name, definition),) = plot.items()
        assert (PROJECT / ".dvc/plots" / f"{definition['template']}.json").is_file(), name
        if name == LIVE.as_posix():
            history = next(iter(STAGES["train"]["plots"][0].values()))
            assert {key: definition[key] for key in ("template", "x", "y")} == {
                key: history[key] for key in ("template", "x", "y")
            }
            continue
        assert list(definition["y"]) == ["reports/curves.csv"], name
    assert "reports/curves.csv" in {next(iter(out)) for out in STAGES["report"]["outs"]}


class Recorder(dict):
    """params.yaml's mapping that notes the dotted path of every value a stage reads."""

    def __init__(self, data: dict, seen: set[str], prefix: str = "") -> None:
        super().__init__(data)
        self.seen, self.prefix = seen, prefix

    def __getitem__(self, key):
        value = super().__getitem__(key)
        if isinstance(value, dict):  # only a step on the way; what is read from it is noted
            return Recorder(value, self.seen, f"{self.prefix}{key}.")
        self.seen.add(f"{self.prefix}{key}")
        return value

    def get(self, key, default=None):
        return self[key] if key in self else default

    def __iter__(self):  # reading the whole mapping: {**section}, for key in ..., items()
        self.seen.add(self.prefix.rstrip(".") or "<all of params.yaml>")
        return super().__iter__()

    def keys(self):
        return list(iter(self))

    def items(self):
        return [(key, self[key]) for key in self]

    def values(self):
        return [self[key] for key in self]


def test_each_stage_reads_only_the_params_it_declares(tmp_path, monkeypatch):
    # A stage reading an undeclared key would silently reuse stale results (DVC_NOTES): run each
    # stage on a recording params mapping and compare what it read with its dvc.yaml `params:`.
    make_workspace(tmp_path, tiny_params())
    monkeypatch.chdir(tmp_path)
    for stage in ("check", "prepare", "train", "evaluate", "figures", "report"):
        module, seen = MODULES[stage], set()
        if hasattr(module, "load_params"):
            real = module.load_params
            monkeypatch.setattr(
                module,
                "load_params",
                lambda *args, real=real, seen=seen, **kw: Recorder(real(*args, **kw), seen),
            )
        run_stage_in_process(stage)
        params = STAGES[stage].get("params", [])
        if {"params.yaml": None} in params:  # the whole file
            continue
        declared = [param.replace("${item.arch}", "tiny") for param in params]
        undeclared = [
            path for path in seen if not any(path == d or path.startswith(f"{d}.") for d in declared)
        ]
        assert not undeclared, f"{stage} reads {sorted(undeclared)} but declares only {declared}"


def test_check_tracks_the_whole_of_params_yaml():
    # issue 20: with its four sections named, a key outside them (`epochs: 5` at the top, `dvc exp
    # run -S '+seeds2=[43]'`) changed no stage's params: DVC ran nothing and said all was up to date.
    assert STAGES["check"]["params"] == [{"params.yaml": None}]


def test_train_items_depend_on_neither_other_architectures_nor_other_seeds():
    # Adding an architecture or a seed must rerun no existing train item: its params name neither
    # the whole mapping of architectures nor the list of seeds (its seed comes with its command).
    assert STAGES["train"]["params"] == ["train", "architectures.${item.arch}", "prepare.validation_size"]
    assert "params" not in STAGES["evaluate"]  # the model file carries everything it needs


def _covered(path: str, deps: list[str]) -> bool:
    """True if `path` is a dep or lies in a folder that is one."""
    return any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in deps)


def _code_deps(deps: list[str]) -> set[str]:
    """The project .py files a stage's deps name, folders expanded."""
    files = set()
    for dep in deps:
        if dep.split("/")[0] in PACKAGES:
            path = PROJECT / dep
            files |= (
                {f.relative_to(PROJECT).as_posix() for f in path.rglob("*.py")} if path.is_dir() else {dep}
            )
    return files


def test_each_stage_depends_on_exactly_the_code_it_runs():
    # A stage's code deps are its import closure, no less (a change it runs would not rerun it) and
    # no more (fetch must not rerun, and download MNIST again, when an activation changes).
    for name, stage in STAGES.items():
        entry = f"stages.{name}" if (PROJECT / f"stages/{name}.py").exists() else f"stages.{name}.__main__"
        runs, declared = import_closure(entry), _code_deps(stage["deps"])
        assert runs == declared, f"{name}: add {sorted(runs - declared)}, remove {sorted(declared - runs)}"


def test_fetch_uses_no_more_of_mlp_than_atomic_writing_and_bounded_reading():
    # The reason for exact deps: editing the network's code must leave fetch (and prepare) alone.
    assert {f for f in _code_deps(STAGES["fetch"]["deps"]) if f.startswith("mlp/")} == {
        "mlp/__init__.py",
        "mlp/atomic.py",
        "mlp/reading.py",
    }
    assert "mlp/model.py" not in _code_deps(STAGES["prepare"]["deps"])


def test_stages_import_mlp_names_not_the_whole_package():
    # `import mlp` may reach any of mlp's modules (its names load on first use), so the closure
    # above would list them all: stages import the names they use.
    for path in (PROJECT / "stages").rglob("*.py"):
        tree = ast.parse(path.read_text())
        bare = [
            n for n in ast.walk(tree) if isinstance(n, ast.Import) and any(a.name == "mlp" for a in n.names)
        ]
        assert not bare, f"{path.relative_to(PROJECT)}: use `from mlp import NAME`"


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


def _cached_outputs() -> set[str]:
    """Every output dvc.yaml caches (plain `outs` without cache: false), for params.yaml's runs."""
    runs = [f"{arch}-{seed}" for arch in PARAMS["architectures"] for seed in PARAMS["seeds"]]
    paths = set()
    for stage in STAGES.values():
        for entry in stage.get("outs", []):
            path, options = next(iter(entry.items())) if isinstance(entry, dict) else (entry, {})
            if options.get("cache", True):
                paths |= {path.replace("${key}", run) for run in runs} if "${key}" in path else {path}
    return paths


def test_no_cached_output_is_also_tracked_by_git():
    # DVC refuses to write an output git tracks ("already tracked by SCM"): a fresh clone could not run.
    if shutil.which("git") is None or not (PROJECT / ".git").exists():
        pytest.skip("needs the project's git repository")
    tracked = subprocess.run(
        ["git", "-c", "safe.directory=*", "ls-files"], cwd=PROJECT, capture_output=True, text=True, check=True
    )
    files = set(tracked.stdout.split())
    both = sorted(
        path for path in _cached_outputs() if path in files or any(f.startswith(f"{path}/") for f in files)
    )
    assert not both, f"untrack them (git rm --cached) and let DVC's .gitignore keep them out: {both}"
