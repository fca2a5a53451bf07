"""Random damage for the fuzz tests of the model and prepared-data readers."""

from __future__ import annotations

import numpy as np


def mutate(valid: bytes, rng: np.random.Generator) -> bytes:
    """A random truncation, bit flips, overwritten run or insertion of `valid`."""
    data = bytearray(valid)
    action = rng.integers(4)
    if action == 0:
        return bytes(data[: rng.integers(len(data))])
    if action == 1:
        for position in rng.integers(0, len(data), size=rng.integers(1, 4)):
            data[position] ^= 1 << int(rng.integers(8))
    elif action == 2:
        start = int(rng.integers(len(data)))
        data[start : start + 8] = rng.bytes(8)
    else:
        start = int(rng.integers(len(data)))
        data[start:start] = rng.bytes(int(rng.integers(1, 9)))
    return bytes(data)
