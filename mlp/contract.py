"""A model's input contract: what its inputs are and how raw pixels become its features.

A model file carries one (persistence.py), so a model can be used outside the pipeline that
trained it: the shape of one input, the label of each output class, and the scaling from raw
0-255 pixels, `(pixels / 255 - mean) / std` per feature in float32. "unit" scaling is mean 0 and
std 1, which gives exactly pixels / 255 (x - 0 and x / 1 are exact in IEEE arithmetic), so one
formula reproduces both of the pipeline's scalings bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mlp.arrays import FloatArray

PIXEL_MAX = 255


@dataclass(frozen=True, eq=False)
class InputContract:
    shape: tuple[int, ...]  # one input, e.g. (28, 28) for an image
    labels: tuple[str, ...]  # output class i means labels[i]
    scaling: str  # the name of the scaling, for people: "unit" or "standardize"
    mean: FloatArray  # (n_features,) float32
    std: FloatArray  # (n_features,) float32, no zeros

    @classmethod
    def unit(cls, shape: Sequence[int], labels: Sequence[str]) -> InputContract:
        """Pixels / 255 and nothing else."""
        n_features = math.prod(shape)
        return cls(
            tuple(shape),
            tuple(labels),
            "unit",
            np.zeros(n_features, np.float32),
            np.ones(n_features, np.float32),
        )

    def __post_init__(self) -> None:
        n_features = math.prod(self.shape)
        for name, array in (("mean", self.mean), ("std", self.std)):
            if array.dtype != np.float32 or array.shape != (n_features,):
                raise ValueError(
                    f"input contract's {name} must be {n_features} float32 values (one per feature of "
                    f"shape {self.shape}), got {array.dtype} {array.shape}"
                )
        if not (np.isfinite(self.mean).all() and np.isfinite(self.std).all() and (self.std > 0).all()):
            raise ValueError("input contract's mean and std must be finite, and std above 0")
        if not self.labels or len(set(self.labels)) != len(self.labels):
            raise ValueError(f"input contract's labels must be distinct, got {list(self.labels)}")
        if not all(
            isinstance(label, str) and label.isprintable() and 0 < len(label) <= 64 for label in self.labels
        ):
            raise ValueError("input contract's labels must be printable strings of 1 to 64 characters")

    @property
    def n_features(self) -> int:
        return len(self.mean)

    def features(self, pixels: npt.ArrayLike) -> FloatArray:
        """(n, n_features) float32 model inputs from raw pixels, (n, *shape) or (n, n_features) in 0..255."""
        raw = np.asarray(pixels)
        if raw.ndim == 0 or math.prod(raw.shape[1:]) != self.n_features:
            raise ValueError(
                f"expected raw inputs of shape (n, {', '.join(map(str, self.shape))}) or "
                f"(n, {self.n_features}), got {raw.shape}"
            )
        if raw.dtype != np.uint8 and not (
            np.all(raw >= 0) and np.all(raw <= PIXEL_MAX) and np.all(raw == np.round(raw))
        ):
            odd = raw[~((raw >= 0) & (raw <= PIXEL_MAX) & (raw == np.round(raw)))].flat[0]
            raise ValueError(
                f"expected raw pixels, whole numbers 0 to {PIXEL_MAX} as an image file holds them; got "
                f"{odd!r} among them (inputs scaled already? the contract scales them)"
            )
        X = raw.reshape(len(raw), -1).astype(np.float32) / np.float32(PIXEL_MAX)
        return (X - self.mean) / self.std
