"""Inputs of the report stage as the earlier stages write them, and checks of what it outputs."""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image
import numpy as np

import mlp
from stages.common.output import write_csv, write_json
from stages.common.params import architecture_settings
from stages.common.prepared import input_contract, record_made_with, save_split
from tests.support import PROJECT
from tests.support import yaml12 as yaml
from tests.support.stages import run_stage_in_process

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
N_TRAIN, N_TEST, EPOCHS = 40, 30, 3
SECONDS = 12.5  # every architecture's training time


def build_project(root: Path, names: Sequence[str], seeds: Sequence[int] = (42,)) -> None:
    """Write every input of the report stage for architectures `names` and `seeds` into `root`, as
    the earlier stages would (evaluate itself writes the metrics, predictions and classification
    reports). Each run gets other random weights, so the runs' accuracies differ."""
    rng = np.random.default_rng(0)
    X_train, y_train = rng.random((N_TRAIN, 784), dtype=np.float32), np.arange(N_TRAIN) % 10
    X_test, y_test = rng.random((N_TEST, 784), dtype=np.float32), rng.integers(0, 10, N_TEST)
    save_split(root / "data/prepared", "train", X_train, y_train)
    save_split(root / "data/prepared", "test", X_test, y_test)
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    params["train"]["epochs"] = EPOCHS
    params["architectures"] = {name: {"hidden_sizes": [8]} for name in names}
    params["seeds"] = list(seeds)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    record_made_with(root / "data/prepared", params["prepare"])
    (root / "data/models").mkdir(parents=True)
    runs = [(name, seed) for name in names for seed in seeds]
    for i, (arch, seed) in enumerate(runs):
        name = f"{arch}-{seed}"
        model = mlp.MLP([784, 8, 10], np.random.default_rng(i))
        settings = architecture_settings(params, arch) | {"seed": seed}  # as the train stage records them
        mlp.save_model(
            model,
            root / f"data/models/{name}.npz",
            metadata={"architecture": arch, "settings": settings},
            contract=input_contract("unit"),
        )
        losses = {"loss": 2.3, "train_loss": 2.2, "test_loss": 2.4}
        history = [
            {
                "epoch": e,
                "learning_rate": 0.1,
                "train_accuracy": 0.2 * e,
                "test_accuracy": 0.15 * e + 0.01 * i,
            }
            | {key: value / e for key, value in losses.items()}
            for e in range(1, EPOCHS + 1)
        ]
        write_csv(root / f"reports/history/{name}.csv", list(history[0]), history)
        train = {
            "n_parameters": model.n_parameters,
            "selected_epoch": EPOCHS,
            "train_accuracy": 0.6,
            "train_seconds": SECONDS,
        }
        write_json(root / f"reports/train/{name}.json", train)
        with contextlib.chdir(root):
            run_stage_in_process("evaluate", arch=arch, seed=seed)


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG file from its IHDR chunk, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert matplotlib.image.imread(path).shape[:2] == (height, width)  # the whole file decodes
    return width, height


class _Links(HTMLParser):
    """Collects every <img src> and every tag name of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"] or "")


def html_images(page: Path) -> tuple[list[str], set[str]]:
    """The <img> sources and the tag names of an HTML file."""
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.images, parser.tags


def assert_reproducible_png(draw, size: tuple[int, int], folder: Path) -> None:
    """draw(path) twice: a valid PNG of `size` pixels, the same bytes both times, nothing else left."""
    first, second = folder / "first.png", folder / "second.png"
    draw(first)
    draw(second)
    assert png_size(first) == size
    assert first.read_bytes() == second.read_bytes()
    assert sorted(path.name for path in folder.iterdir()) == ["first.png", "second.png"]  # no temporaries
