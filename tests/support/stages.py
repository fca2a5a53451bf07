"""Running the pipeline's stages in tests: their commands as dvc.yaml writes them, in this process.

`stage_args` reads the arguments from dvc.yaml itself, so a test runs exactly what `dvc repro`
would. A stage runs through `run_stage` as `python -m stages.NAME` does: errors become one
message on stderr and a SystemExit.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from types import ModuleType

import pytest

from stages import check, evaluate, fetch, figures, prepare, publish, register, train
from stages.common.runner import run_stage
from stages.report import __main__ as report
from tests.support import PROJECT
from tests.support import yaml12 as yaml
from tests.support.synthetic import small_params

MODULES: dict[str, ModuleType] = {
    "check": check,
    "fetch": fetch,
    "prepare": prepare,
    "train": train,
    "publish": publish,
    "register": register,
    "evaluate": evaluate,
    "figures": figures,
    "report": report,
}


SEED = 42  # the project's default seed, which the tests' params keep


def stage_args(stage: str, arch: str = "tiny", seed: int = SEED) -> list[str]:
    """The arguments dvc.yaml's `cmd` gives `python -m stages.STAGE` for the item ARCH-SEED."""
    definition = yaml.safe_load((PROJECT / "dvc.yaml").read_text())["stages"][stage]
    command = definition["cmd"]
    for name, value in {"${item.arch}": arch, "${item.seed}": str(seed), "${key}": f"{arch}-{seed}"}.items():
        command = command.replace(name, value)
    words = shlex.split(command)
    assert words[:3] == ["python", "-m", f"stages.{stage}"], command
    return words[3:]


def run_stage_in_process(
    stage: str, args: list[str] | None = None, arch: str = "tiny", seed: int = SEED
) -> None:
    """Run a stage as `python -m stages.STAGE ARGS` would (default ARGS: dvc.yaml's), in this process."""
    run_stage(MODULES[stage].main, stage, stage_args(stage, arch, seed) if args is None else args)


def run_pipeline(arch: str = "tiny") -> None:
    """prepare, train@arch, evaluate@arch in the current folder (data/raw and params.yaml present)."""
    for stage in ("prepare", "train", "evaluate"):
        run_stage_in_process(stage, arch=arch)


def failing_stage(stage: str, capsys: pytest.CaptureFixture[str], args: list[str] | None = None) -> str:
    """Run a stage that must fail: exit status 1 and exactly one error message, which is returned."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as caught:
        run_stage_in_process(stage, args)
    err = capsys.readouterr().err
    assert caught.value.code == 1, err
    assert err.count(f"{stage}: error: ") == 1 and "Traceback" not in err, err
    return err[err.index(f"{stage}: error: ") :]


def tiny_params(**train_overrides: object) -> dict:
    """small_params with the one architecture `tiny`, so the report stage has all it needs."""
    params = small_params(**train_overrides)
    params["architectures"] = {"tiny": {"hidden_sizes": [16]}}
    return params


def params_text(params: dict) -> str:
    """params.yaml's text for `params`, in the file's key order."""
    return yaml.safe_dump(params, sort_keys=False)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` and its bytes, but training's live progress (live/), which a stage
    writes as it goes, whatever then happens to its outputs."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "live" not in path.relative_to(root).parts
    }


def temporaries(root: Path) -> list[Path]:
    """Temporary files atomic_open would leave behind if its cleanup failed."""
    return list(root.rglob("*.tmp"))
