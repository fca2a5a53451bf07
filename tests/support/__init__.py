"""Helpers the tests share: where the project is, synthetic data, gradient checks, running a stage."""

from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
REAL_MNIST = PROJECT.parent / "shared/data/mnist"  # the offline copy beside the checkout, if any
