"""One training epoch of the full-MNIST recipe against the machine's matrix-multiply limit.

What it measures, for the architecture `--arch` of an experiment (by default `wide` of
experiments/full-mnist.yaml applied to params.yaml: exactly what its `train@wide` uses):

- epoch: the wall time of `stages.train.train_model` for one epoch on 60,000 samples with no
  evaluation sets, so the recipe's optimizer, dropout, weight decay, shifts and BLAS thread
  count all count, and the per-epoch evaluation does not. Reported as samples/s.
- matmul: the wall time of that epoch's matrix products alone, at the same shapes, dtype and
  thread count: for every step (60,000 / batch_size of them, the last one smaller), the forward
  X @ W of each layer, dW = X.T @ dZ of each layer, and dX = dZ @ W.T of every layer but the
  first, written into preallocated arrays. This is what the epoch would cost if everything
  else (activations, dropout masks, shifts, loss, optimizer updates) were free.
- ratio: epoch / matmul; the target is at most 1.5.
- optimizer: for reference, the wall time of the epoch's optimizer updates alone.

Each figure is the median of `--repeats` (default 3) runs after one untimed warm-up; epoch,
matmul and optimizer runs alternate so that a slow spell of the machine hits all three.
Data: 60,000 random MNIST-shaped samples (uniform [0, 1) float32, labels 0..9, from
np.random.default_rng(0)); the cost of dense products does not depend on the values.

Run from the project root: `python benchmarks/full_recipe.py [--experiment NAME] [--arch NAME]
[--repeats 3] [--json]`. With --json, stdout holds one JSON object with the same figures.
The load average before and after is printed: other busy processes inflate every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # works without the editable install
import mlp
from benchmarks.results import save
from benchmarks.train_throughput import matmul_epoch
from stages.common.mnist import N_CLASSES, N_FEATURES, N_TRAIN
from stages.common.params import ParamsError, architecture_settings
from stages.common.runner import StageError
from stages.train import train_model
from tools.experiment import experiment_params

N_SAMPLES = N_TRAIN
DEFAULT_EXPERIMENT, DEFAULT_ARCH = "full-mnist", "wide"
TARGET_RATIO = 1.5


def epoch_seconds(X: np.ndarray, y: np.ndarray, settings: dict[str, Any]) -> float:
    """Wall time of one training epoch as the train stage runs it, without evaluation."""
    start = time.perf_counter()
    train_model(X, y, {}, {**settings, "epochs": 1}, "full_recipe")
    return time.perf_counter() - start


def batch_sizes(batch_size: int) -> list[int]:
    """The size of every mini-batch of one epoch over N_SAMPLES (the last may be smaller)."""
    return [min(batch_size, N_SAMPLES - start) for start in range(0, N_SAMPLES, batch_size)]


def matmul_seconds(layer_sizes: list[int], batch_size: int) -> float:
    """Wall time of one epoch's forward, dW and dX products alone (train_throughput's runner)."""
    run = matmul_epoch(batch_size, layer_sizes)
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def optimizer_seconds(layer_sizes: list[int], settings: dict[str, Any], rng: np.random.Generator) -> float:
    """Wall time of one epoch's optimizer steps alone (weight decay and the rest not included)."""
    model = mlp.MLP(layer_sizes, rng)
    optimizer = mlp.make_optimizer(
        settings["optimizer"], model.parameters(), settings["learning_rate"], momentum=settings["momentum"]
    )
    grads = np.full_like(model.parameters(), 1e-6)
    start = time.perf_counter()
    for _ in batch_sizes(settings["batch_size"]):
        optimizer.step(grads)
    return time.perf_counter() - start


def measure(settings: dict[str, Any], repeats: int) -> dict[str, list[float]]:
    """`repeats` timings of each kind, after one warm-up of each, alternating kinds."""
    data_rng = np.random.default_rng(0)
    X = data_rng.random((N_SAMPLES, N_FEATURES), dtype=np.float32)
    y = data_rng.integers(0, N_CLASSES, size=N_SAMPLES)
    layer_sizes = [N_FEATURES, *settings["hidden_sizes"], N_CLASSES]
    timers = {
        "epoch": lambda: epoch_seconds(X, y, settings),
        "matmul": lambda: matmul_seconds(layer_sizes, settings["batch_size"]),
        "optimizer": lambda: optimizer_seconds(layer_sizes, settings, np.random.default_rng(2)),
    }
    seconds: dict[str, list[float]] = {name: [] for name in timers}
    for run in range(repeats + 1):
        for name, timer in timers.items():
            print(
                f"{name} run {run + 1} of {repeats + 1} (the first is a warm-up)", file=sys.stderr, flush=True
            )
            # train_model sets its own thread limit; the bare products need the same one
            with threadpool_limits(limits=settings["threads"], user_api="blas"):
                elapsed = timer()
            if run:
                seconds[name].append(elapsed)
    return seconds


def report_lines(report: dict[str, Any]) -> list[str]:
    """The human-readable summary."""
    settings = report["settings"]
    return [
        f"recipe {report['arch']}: hidden {settings['hidden_sizes']}, batch {settings['batch_size']}, "
        f"{settings['threads']} BLAS thread(s), {settings['optimizer']}, dropout {settings['dropout']}, "
        f"weight_decay {settings['weight_decay']}, shift_pixels {settings['shift_pixels']}",
        f"{N_SAMPLES} random samples, {report['steps']} steps per epoch; median of {report['repeats']}; "
        f"load average {report['load_average_before']:.2f} before, {report['load_average_after']:.2f} after",
        f"training epoch : {report['epoch_seconds']:7.2f} s  {report['samples_per_s']:>9,.0f} samples/s",
        f"matmul only    : {report['matmul_seconds']:7.2f} s  "
        f"{report['matmul_samples_per_s']:>9,.0f} samples/s  ({report['matmul_gflops']:.1f} GFLOP/s)",
        f"optimizer only : {report['optimizer_seconds']:7.2f} s",
        f"ratio epoch / matmul: {report['ratio']:.2f}x (target <= {TARGET_RATIO}x: "
        f"{'met' if report['ratio'] <= TARGET_RATIO else 'MISSED'})",
    ]


def matmul_flops(layer_sizes: list[int]) -> int:
    """Floating-point operations of the timed products per sample (2 per multiply-add)."""
    pairs = _pairs(layer_sizes)
    return sum(2 * fan_in * fan_out * (3 if i > 0 else 2) for i, (fan_in, fan_out) in enumerate(pairs))


def _pairs(layer_sizes: list[int]) -> list[tuple[int, int]]:
    return list(zip(layer_sizes[:-1], layer_sizes[1:], strict=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default=DEFAULT_EXPERIMENT, help="an experiment in experiments/")
    parser.add_argument("--arch", default=DEFAULT_ARCH, help=f"its architecture (default {DEFAULT_ARCH})")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs per figure (>= 3); the median counts"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of text")
    args = parser.parse_args()
    if args.repeats < 3:
        parser.error(f"--repeats must be at least 3, got {args.repeats}")
    try:
        params = experiment_params(args.experiment)
        settings = architecture_settings(params, args.arch) | {"seed": params["seeds"][0]}
    except (ParamsError, StageError) as error:
        parser.error(str(error))
    load_before = os.getloadavg()[0]
    seconds = measure(settings, args.repeats)
    epoch, matmul = statistics.median(seconds["epoch"]), statistics.median(seconds["matmul"])
    layer_sizes = [N_FEATURES, *settings["hidden_sizes"], N_CLASSES]
    report = {
        "arch": args.arch,
        "settings": settings,
        "n_samples": N_SAMPLES,
        "steps": len(batch_sizes(settings["batch_size"])),
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
        "epoch_seconds": epoch,
        "samples_per_s": N_SAMPLES / epoch,
        "matmul_seconds": matmul,
        "matmul_samples_per_s": N_SAMPLES / matmul,
        "matmul_gflops": N_SAMPLES * matmul_flops(layer_sizes) / matmul / 1e9,
        "optimizer_seconds": statistics.median(seconds["optimizer"]),
        "ratio": epoch / matmul,
        "target_ratio": TARGET_RATIO,
        "runs_seconds": seconds,
    }
    save(__file__, report)
    print(json.dumps(report, indent=2) if args.json else "\n".join(report_lines(report)))


if __name__ == "__main__":
    main()
