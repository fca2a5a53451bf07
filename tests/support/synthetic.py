"""Tiny MNIST-like data for stage tests: learnable 28x28 images written as IDX files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from stages.common.mnist import encode_idx
from tests.support import PROJECT
from tests.support import yaml12 as yaml


def synthetic_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n images whose class c shows a bright 6x6 block at a class-specific spot, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):
        row, col = 2 + 8 * (label // 4), 2 + 6 * (label % 4)
        images[i, row : row + 6, col : col + 6] = 250
    return images, labels


def write_raw(folder: Path, n_train: int = 400, n_test: int = 100) -> None:
    """Write the four decompressed MNIST IDX files of a synthetic data set into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = synthetic_images(n, seed)
        (folder / f"{split}-images-idx3-ubyte").write_bytes(encode_idx(images))
        (folder / f"{split}-labels-idx1-ubyte").write_bytes(encode_idx(labels))


def small_params(**train_overrides: object) -> dict:
    """The project's params.yaml shrunk to a few epochs on a 400-image subset."""
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    params["prepare"]["subset"] = 400
    params["train"].update({"epochs": 3, "batch_size": 16, **train_overrides})
    params["architectures"] = {"tiny": {"hidden_sizes": [16]}, "small": {"hidden_sizes": [24, 12]}}
    return params


def make_workspace(root: Path, params: dict | None = None) -> Path:
    """A folder with params.yaml and data/raw, ready for the stages' main() functions."""
    write_raw(root / "data" / "raw")
    (root / "params.yaml").write_text(yaml.safe_dump(params or small_params(), sort_keys=False))
    return root


def copy_project(destination: Path) -> None:
    """Copy the project's sources to `destination`, as a fresh clone with no results would be.

    Left out: data, results (reports/, dvc.lock), the DVC cache and lock state, the venv.
    """
    ignore = shutil.ignore_patterns(
        ".venv",
        ".git",
        "__pycache__",
        "data",
        ".pytest_cache",
        "dvc_plots",
        "*.egg-info",
        "cache",
        "tmp",
        "reports",
        "dvc.lock",
    )
    shutil.copytree(PROJECT, destination, ignore=ignore, dirs_exist_ok=True)
