"""python -m tools.predict on real MNIST: test images as PNG files, redrawn variants, and bad files."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shlex
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mlp
from stages import fetch
from stages.common.mnist import load_mnist_split
from stages.prepare import split_data
from tests.support import PROJECT, REAL_MNIST
from tests.support import yaml12 as yaml
from tests.support.stages import run_stage_in_process
from tools import predict

pytestmark = pytest.mark.skipif(not REAL_MNIST.is_dir(), reason=f"real MNIST files not found at {REAL_MNIST}")
RUN = "medium-42"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """The default 8,000/2,000 notebook split of real MNIST, a small `medium` trained on it for 5 epochs
    and evaluated, and the 2,000 raw test images as PNG files in test-png/."""
    root = tmp_path_factory.mktemp("predict")
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    params["train"]["epochs"] = 5
    params["architectures"] = {"medium": {"hidden_sizes": [64]}}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (root / "dvc.yaml").write_bytes((PROJECT / "dvc.yaml").read_bytes())
    with contextlib.chdir(root), pytest.MonkeyPatch.context() as patch:
        patch.setenv("MNIST_DIR", str(REAL_MNIST))
        fetch.main(["data/raw"])
        for stage in ("prepare", "train", "evaluate"):
            run_stage_in_process(stage, arch="medium")
        (root / "test-png").mkdir()
        for i, image in enumerate(_raw_test_images(params["prepare"])):
            Image.fromarray(image).save(root / f"test-png/{i:04d}.png")
    return root


def _raw_test_images(prepare: dict) -> np.ndarray:
    raw = load_mnist_split("data/raw", "train"), load_mnist_split("data/raw", "t10k")
    return split_data(*raw, **{key: value for key, value in prepare.items() if key != "scaling"})["test"][0]


def _run(capsys, *args: str) -> tuple[int, str, str]:
    status = predict.main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_the_test_images_as_png_files_give_evaluate_s_predictions(trained, monkeypatch, capsys):
    monkeypatch.chdir(trained)
    status, out, err = _run(capsys, "test-png", "--format", "csv")
    assert status == 0 and err == ""
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 2000
    with open(f"reports/predictions/{RUN}.csv") as handle:
        evaluated = [row["predicted"] for row in csv.DictReader(handle)]
    assert [row["digit"] for row in rows] == evaluated  # the default model is medium with the first seed


def _variants(image: np.ndarray) -> dict[str, Image.Image]:
    """The same digit drawn otherwise: inverted, four times larger, off centre, on a coloured background."""
    big = Image.fromarray(image).resize((112, 112), Image.Resampling.BILINEAR)
    canvas = np.zeros((90, 150), np.uint8)
    canvas[5:33, 100:128] = image
    ink = image.astype(float)[..., None] / 255
    paper, pen = np.array([250, 220, 150]), np.array([20, 30, 120])
    coloured = (paper * (1 - ink) + pen * ink).round().astype(np.uint8)
    return {
        "inverted": Image.fromarray(255 - image),
        "scaled up": big,
        "off centre": Image.fromarray(canvas),
        "coloured background": Image.fromarray(coloured, "RGB").resize((84, 84), Image.Resampling.LANCZOS),
    }


def test_the_same_digit_drawn_otherwise_gets_the_same_answer(trained, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(trained)
    classifier = mlp.load_classifier(f"data/models/{RUN}.npz")
    images = _raw_test_images(yaml.safe_load(Path("params.yaml").read_text())["prepare"])
    probabilities = classifier.predict_proba(images)
    confident = np.flatnonzero(probabilities.max(axis=1) > 0.99)[:20]
    expected = {}
    for i in confident:
        for name, variant in _variants(images[i]).items():
            path = tmp_path / f"{i}-{name.replace(' ', '-')}.png"
            variant.save(path)
            expected[str(path)] = str(probabilities[i].argmax())
    status, out, _ = _run(capsys, str(tmp_path), "--format", "json")
    assert status == 0
    assert {row["file"]: row["digit"] for row in json.loads(out)} == expected


def _png(width: int, height: int) -> bytes:
    """A PNG declaring width x height grayscale pixels (with valid CRCs) that holds none of them."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"")


def _bad_files(folder: Path) -> dict[str, str]:
    """Bad inputs and the message each must get."""
    (folder / "notes.png").write_text("not an image")
    buffer = io.BytesIO()
    Image.fromarray(np.full((200, 200), 255, np.uint8)).save(buffer, "PNG", compress_level=0)
    (folder / "truncated.png").write_bytes(buffer.getvalue()[:2000])
    (folder / "huge.png").write_bytes(_png(100_000, 100_000))
    frames = [Image.fromarray(np.full((40, 40), value, np.uint8)) for value in (0, 255)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:])
    Image.fromarray(np.full((50, 60), 200, np.uint8)).save(folder / "blank.png")
    (folder / "empty").mkdir()
    os.mkfifo(folder / "fifo.png")
    return {
        "notes.png": "is not an image this command reads (PNG, JPEG, BMP, GIF)",
        "truncated.png": "is truncated or corrupt",
        "huge.png": "declares 10,000,000,000 pixels, over the 64,000,000 this command reads; shrink it first",
        "animated.gif": "is an animation of 2 frames; save the frame to read as a still image",
        "blank.png": "holds no digit",
        "missing.png": "no such file",
        "empty": "empty: is a folder that holds no image files (.bmp, .gif, .jpeg, .jpg, .png)",
        "fifo.png": "fifo.png: is a device or a pipe, not an image file",
    }


def test_each_bad_file_gets_one_clear_message_and_no_traceback(trained, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(trained)
    for name, message in _bad_files(tmp_path).items():
        status, out, err = _run(capsys, str(tmp_path / name), "test-png/0000.png")
        lines = err.splitlines()
        assert status == 1 and len(lines) == 1 and "Traceback" not in err, err
        assert message in lines[0] and lines[0].startswith("predict: error: ")
        assert out.startswith("test-png/0000.png: ")  # a bad file does not stop the others


def test_text_output_and_model_choice(trained, monkeypatch, capsys):
    monkeypatch.chdir(trained)
    status, out, _ = _run(capsys, "test-png/0000.png", "--model", RUN)
    assert status == 0
    assert out.startswith("test-png/0000.png: ") and "(probability " in out and "; next " in out
    assert _run(capsys, "test-png/0000.png", "--model", f"data/models/{RUN}.npz")[1] == out


def test_a_model_that_is_missing_unknown_or_unfit_says_so(trained, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(trained)
    model = Path(f"data/models/{RUN}.npz")
    model.rename(tmp_path / "away.npz")
    try:
        status, _, err = _run(capsys, "test-png/0000.png")
    finally:
        (tmp_path / "away.npz").rename(model)
    assert status == 1 and f"data/models/{RUN}.npz, the model of run {RUN}, is not here" in err
    assert f"dvc pull data/models/{RUN}.npz" in err and "dvc artifacts get" in err
    old = tmp_path / "old.npz"
    mlp.save_model(mlp.load_model(model)[0], old)  # no contract
    square = tmp_path / "square.npz"
    contract = mlp.InputContract.unit((32, 32), list("0123456789"))
    mlp.save_model(mlp.MLP([1024, 4, 10], np.random.default_rng(0)), square, contract=contract)
    for chosen, message in [
        ("deep-42", "--model 'deep-42' is neither a model file (.npz) nor a run of params.yaml (medium-42)"),
        ("../../etc/passwd", "no such model file"),
        ("data/models", "is not a model file but a folder, a device or a pipe"),
        (str(old), "has no input contract"),
        (str(square), "takes inputs of shape (32, 32), not the 28x28 digits this command makes of images"),
    ]:
        status, out, err = _run(capsys, "test-png/0000.png", "--model", chosen)
        assert status == 1 and out == "" and err.count("\n") == 1 and message in err, err


def test_output_survives_a_closed_pipe_and_any_encoding(trained, tmp_path):
    # `| head -1` closes the pipe: no traceback; a file name that is not UTF-8 prints with escapes.
    odd = tmp_path / "bad\udcffname.png"
    odd.write_bytes((trained / "test-png/0000.png").read_bytes())
    command = [sys.executable, "-m", "tools.predict", "test-png", str(odd)]
    environment = os.environ | {"PYTHONIOENCODING": "ascii", "PYTHONPATH": str(PROJECT)}
    piped = subprocess.run(
        f"{shlex.join(command)} | head -1", shell=True, cwd=trained, env=environment, capture_output=True
    )
    assert piped.returncode == 0 and piped.stdout.count(b"\n") == 1 and piped.stderr == b"", piped.stderr
    done = subprocess.run([*command[:3], str(odd)], cwd=trained, env=environment, capture_output=True)
    assert done.returncode == 0 and done.stdout.startswith(str(tmp_path).encode() + b"/bad\\udcffname.png: ")
