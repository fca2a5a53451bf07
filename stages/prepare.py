"""Prepare stage: MNIST IDX files -> normalised, split arrays in data/prepared/ (train, test, val).

The default is the reference notebook's recipe: the first 10,000 training images, pixels / 255,
and an 80/20 train_test_split with random_state 42. The official split (60,000 / 10,000), a
validation set carved out of the training part, and standardisation are options.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from sklearn.model_selection import train_test_split

from mlp.arrays import FloatArray
from mlp.contract import InputContract
from stages.common.mnist import load_mnist_split
from stages.common.params_core import load_params, training_size
from stages.common.prepared import (
    TEST,
    TRAIN,
    VALIDATION,
    input_contract,
    record_made_with,
    save_contract,
    save_split,
    splits,
)
from stages.common.runner import StageError, run_stage

Split = tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]  # (images, labels) as in the IDX files
Scaled = tuple[FloatArray, npt.NDArray[np.uint8]]  # (X, labels): flat float32 rows, scaled


def split_data(
    train: Split,
    test: Split,
    *,
    split: str,
    subset: int | None,
    test_fraction: float,
    validation_size: int,
    random_state: int,
) -> dict[str, Split]:
    """Select and split raw (images, labels) into the prepared splits (still uint8)."""
    images, labels = train
    if subset is not None and subset > len(images):
        raise StageError(
            f"prepare.subset is {subset} but MNIST has only {len(images)} training images; "
            f"set it to at most {len(images)}, or to null for all of them"
        )
    sizes = {
        "split": split,
        "subset": subset,
        "test_fraction": test_fraction,
        "validation_size": validation_size,
    }
    problems, _, _ = training_size(sizes, available=len(images))
    if problems:
        raise StageError(problems[0])
    images, labels = images[:subset], labels[:subset]
    if split == "notebook":
        X_train, X_test, y_train, y_test = train_test_split(
            images, labels, test_size=test_fraction, random_state=random_state
        )
        parts = {TRAIN: (X_train, y_train), TEST: (X_test, y_test)}
    else:
        parts = {TRAIN: (images, labels), TEST: test}
    if validation_size:
        X_train, y_train = parts[TRAIN]
        X_train, X_val, y_train, y_val = train_test_split(
            X_train, y_train, test_size=validation_size, random_state=random_state
        )
        parts |= {TRAIN: (X_train, y_train), VALIDATION: (X_val, y_val)}
    return parts


def scale(parts: dict[str, Split], scaling: str) -> tuple[dict[str, Scaled], InputContract]:
    """Flatten images to (n, N_FEATURES) float32: pixels / 255, then optionally standardise; and the
    input contract that does the same to new images (train puts it in each model file).

    Standardisation uses each pixel's mean and std from the training part only, so nothing
    about the test set leaks into training; constant pixels (std 0) are only centred.
    """
    contract = input_contract(scaling)
    if scaling == "standardize":
        images = parts[TRAIN][0]
        X_train = contract.features(images)  # pixels / 255
        mean = X_train.mean(axis=0, dtype=np.float64).astype(np.float32)
        std = X_train.std(axis=0, dtype=np.float64).astype(np.float32)
        std[std < 1e-6] = 1
        contract = input_contract(scaling, mean, std)
    scaled = {name: (contract.features(images), labels) for name, (images, labels) in parts.items()}
    return scaled, contract


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.prepare", description=__doc__.split("\n\n")[0])
    parser.add_argument("raw", help="folder with the four MNIST IDX files (fetch's output)")
    parser.add_argument("prepared", help="output folder for train.npz, test.npz [and val.npz]")
    args = parser.parse_args(argv)

    params = load_params(reads=lambda p: p["prepare"])["prepare"]
    train, test = load_mnist_split(args.raw, "train"), load_mnist_split(args.raw, "t10k")
    parts = split_data(
        train,
        test,
        split=params["split"],
        subset=params["subset"],
        test_fraction=params["test_fraction"],
        validation_size=params["validation_size"],
        random_state=params["random_state"],
    )
    assert tuple(sorted(parts)) == tuple(sorted(splits(params["validation_size"])))
    scaled, contract = scale(parts, params["scaling"])
    for name, (X, y) in scaled.items():
        save_split(args.prepared, name, X, y)
    save_contract(args.prepared, contract)
    record_made_with(args.prepared, params)
    sizes = ", ".join(f"{name} {len(y)}" for name, (_, y) in parts.items())
    print(f"prepare: {params['split']} split, {params['scaling']} scaling: {sizes}")


if __name__ == "__main__":
    run_stage(main, "prepare")
