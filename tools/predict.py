"""Read handwritten digits from image files with a trained model: `python -m tools.predict`.

    python -m tools.predict IMAGE_OR_FOLDER... [--model ARCH-SEED|FILE] [--format text|csv|json]

Each image (PNG, JPEG, BMP or GIF; any size; grayscale or colour; dark on light or light on
dark) is turned into an MNIST digit as MNIST's own were made (stages.common.handwriting), then
scaled by the input contract its model file carries. A folder stands for the images in it.
The model is a run of the pipeline, ARCH-SEED (its file is where dvc.yaml's train stage writes
it), or a model file; by default the notebook's network, `medium`, with the first seed of
params.yaml. Prints each file's digit with its probability and the next two candidates.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

import mlp
from mlp.reading import UnreadableFileError, open_regular
from stages.common.handwriting import Gray, NoDigitError, to_mnist
from stages.common.mnist import IMAGE_SIDE
from stages.common.params import ParamsError, read_yaml
from tools.entry import run_tool

FORMATS = {"PNG": (".png",), "JPEG": (".jpg", ".jpeg"), "BMP": (".bmp",), "GIF": (".gif",)}
SUFFIXES = {suffix for suffixes in FORMATS.values() for suffix in suffixes}
MAX_IMAGE_BYTES = 1 << 30  # far above a 64-megapixel PNG
MAX_PIXELS = 64_000_000  # a 64-megapixel photo; Pillow would otherwise decode up to 179 million
DEFAULT_ARCHITECTURE = "medium"  # the reference notebook's network
CANDIDATES = 3  # the digit and the next two


class PredictError(ValueError):
    """A file or model this command cannot use; the message names it and says why."""


@dataclass(frozen=True)
class Prediction:
    file: str
    ranked: list[tuple[str, float]]  # (label, probability), most likely first


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.predict", description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="+", help="image files, or folders of them (not their subfolders)")
    parser.add_argument(
        "--model",
        help=f"a run, ARCH-SEED (e.g. deep-42), or a model file (.npz); default: {DEFAULT_ARCHITECTURE} "
        "with params.yaml's first seed",
    )
    parser.add_argument("--format", choices=("text", "csv", "json"), default="text")
    args = parser.parse_args(argv)
    for stream in (sys.stdout, sys.stderr):  # file names in any encoding, on a terminal of any encoding
        stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    try:
        classifier = load(model_path(args.model))
    except (PredictError, ParamsError, mlp.ModelFileError) as error:
        print(f"predict: error: {error}", file=sys.stderr)
        return 1
    failed = False
    try:
        with Output(args.format) as output:
            for path in image_files(args.images):
                try:
                    output.add(predict(classifier, path))
                except PredictError as error:
                    print(f"predict: error: {path}: {error}", file=sys.stderr)
                    failed = True
    except BrokenPipeError:  # the reader stopped, as `| head` does: nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 1 if failed else 0


def model_path(model: str | None) -> Path:
    """The model file `--model` names: a file as given, or run ARCH-SEED's file as dvc.yaml places it."""
    if model is not None and (model.endswith(".npz") or "/" in model):
        return Path(model)
    params = read_yaml("params.yaml")
    runs = [f"{arch}-{seed}" for arch in params["architectures"] for seed in params["seeds"]]
    if model is None:
        model = f"{DEFAULT_ARCHITECTURE}-{params['seeds'][0]}"
    elif model not in runs:
        raise PredictError(
            f"--model {model!r} is neither a model file (.npz) nor a run of params.yaml ({', '.join(runs)})"
        )
    path = Path(read_yaml("dvc.yaml")["stages"]["train"]["outs"][0].replace("${key}", model))
    if not path.exists():
        raise PredictError(
            f"{path}, the model of run {model}, is not here: `dvc pull {path}` fetches it from the DVC "
            f"remote, `dvc repro train@{model}` trains it; elsewhere, `dvc get URL {path}` or "
            f"`dvc artifacts get URL {model}` downloads it"
        )
    return path


def load(path: Path) -> mlp.Classifier:
    """The classifier in model file `path`, if it reads 28x28 digits as this command makes them."""
    if path.exists() and not path.is_file():
        raise PredictError(f"{path}: is not a model file but a folder, a device or a pipe")
    classifier = mlp.load_classifier(path)
    if classifier.contract.shape != (IMAGE_SIDE, IMAGE_SIDE):
        raise PredictError(
            f"{path}: takes inputs of shape {classifier.contract.shape}, not the {IMAGE_SIDE}x{IMAGE_SIDE} "
            "digits this command makes of images"
        )
    return classifier


def image_files(arguments: Sequence[str]) -> Iterator[Path]:
    """The files named, with a folder standing for the image files in it (by suffix, in name order)."""
    for argument in arguments:
        path = Path(argument)
        if not path.is_dir():
            yield path
            continue
        inside = sorted(item for item in path.iterdir() if item.suffix.lower() in SUFFIXES and item.is_file())
        yield from inside or [path]  # an empty folder is reported as a bad file: read_gray says why


def predict(classifier: mlp.Classifier, path: Path) -> Prediction:
    """The ranked candidates for the digit in image `path`."""
    try:
        digit = to_mnist(read_gray(path))
    except NoDigitError as error:
        raise PredictError(str(error)) from None
    probabilities = classifier.predict_proba(digit[None])[0].astype(float)
    order = np.argsort(-probabilities, kind="stable")[:CANDIDATES]
    return Prediction(str(path), [(classifier.contract.labels[i], float(probabilities[i])) for i in order])


def read_gray(path: Path) -> Gray:
    """The image's brightness, 0..255, upright as a viewer shows it (phones store photos turned and
    say so in EXIF); transparency is shown over the backdrop its ink stands out on."""
    if path.is_dir():
        raise PredictError(f"is a folder that holds no image files ({', '.join(sorted(SUFFIXES))})")
    if path.exists() and not path.is_file():
        raise PredictError("is a device or a pipe, not an image file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size is checked below
            with (
                open_regular(path, MAX_IMAGE_BYTES) as handle,
                Image.open(handle, formats=list(FORMATS)) as image,
            ):
                if image.width * image.height > MAX_PIXELS:
                    raise PredictError(_too_large(image.width * image.height))
                frames = getattr(image, "n_frames", 1)
                if frames > 1:
                    raise PredictError(
                        f"is an animation of {frames} frames; save the frame to read as a still image"
                    )
                upright = ImageOps.exif_transpose(image)
                if upright.mode == "L":
                    return np.asarray(upright, dtype=np.float64)
                rgba = np.asarray(upright.convert("RGBA"), dtype=np.float64)
    except PredictError:
        raise
    except UnreadableFileError as error:  # became a FIFO since the check above, or too large
        raise PredictError(str(error)) from None
    except FileNotFoundError:
        raise PredictError("no such file") from None
    except PermissionError:
        raise PredictError("cannot be read: permission denied") from None
    except UnidentifiedImageError:
        raise PredictError(f"is not an image this command reads ({', '.join(FORMATS)})") from None
    except Image.DecompressionBombError as error:
        raise PredictError(
            _too_large(int("".join(filter(str.isdigit, str(error).split(" pixels")[0]))))
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise PredictError(f"is truncated or corrupt ({error})") from None
    luma = rgba[..., :3] @ np.array([0.299, 0.587, 0.114])
    alpha = rgba[..., 3] / 255
    if (alpha < 1).any():
        light_ink = alpha.sum() > 0 and np.average(luma, weights=alpha) > 127.5
        luma = luma * alpha + (0 if light_ink else 255) * (1 - alpha)
    return luma


def _too_large(n_pixels: int) -> str:
    return f"declares {n_pixels:,} pixels, over the {MAX_PIXELS:,} this command reads; shrink it first"


class Output:
    """Prints predictions as they come (text lines or CSV rows), or as one JSON list at the end."""

    def __init__(self, form: str) -> None:
        self.form, self.rows = form, list[dict[str, Any]]()
        self.csv = csv.writer(sys.stdout, lineterminator="\n")

    def __enter__(self) -> Output:
        if self.form == "csv":
            ranks = ("digit", "second", "third")[:CANDIDATES]
            self.csv.writerow(
                ["file", *(f"{rank}{suffix}" for rank in ranks for suffix in ("", "_probability"))]
            )
        return self

    def add(self, p: Prediction) -> None:
        if self.form == "json":
            self.rows.append(
                {
                    "file": p.file,
                    "digit": p.ranked[0][0],
                    "probability": round(p.ranked[0][1], 6),
                    "candidates": [
                        {"digit": label, "probability": round(prob, 6)} for label, prob in p.ranked
                    ],
                }
            )
        elif self.form == "csv":
            self.csv.writerow(
                [p.file, *(value for label, prob in p.ranked for value in (label, f"{prob:.6f}"))]
            )
        else:
            (label, prob), *others = p.ranked
            rest = ", ".join(f"{other} ({q:.4f})" for other, q in others)
            print(f"{p.file}: {label} (probability {prob:.4f}); next {rest}")

    def __exit__(self, *exc: object) -> None:
        if self.form == "json" and exc[0] is None:
            print(json.dumps(self.rows, indent=2))
        sys.stdout.flush()  # a closed pipe is found here, inside the caller's try


if __name__ == "__main__":
    run_tool(main, "predict")
