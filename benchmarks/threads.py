"""One BLAS thread against two: training throughput of our MLP by batch size and layer width.

What it measures: samples per second of one training epoch (`mlp.fit(..., epochs=1)`, no
evaluation sets) on 10,000 random MNIST-shaped samples (uniform [0, 1) float32 pixels, labels
0..9, from np.random.default_rng(0); dense matrix products cost the same whatever the values),
for every batch size in {32, 64, 128, 256} and hidden widths in {[128, 64], [512, 512],
[1024, 1024]}, under `threadpool_limits(limits=N, user_api="blas")` with N = 1 and N = 2.
The network is 784-hidden-10, ReLU, He init, float32, Nesterov momentum 0.9 at learning rate
0.05 (the optimizer the training recipe uses; its update is elementwise and never threaded).
Each figure is 10,000 / the median wall time of `--repeats` epochs (default 3), after one
untimed warm-up epoch per thread count; the 1- and 2-thread epochs alternate, so a slow spell
of the machine hits both. The faster thread count is printed per (batch size, width) row.

The stage's per-epoch evaluation (`evaluate` on train, val and test, forward passes in chunks
of 4,096 rows) runs under the same `train.threads`, so a second, smaller table gives the
prediction throughput per width at 1 and 2 threads too.

Run from the project root: `python benchmarks/threads.py [--repeats 3] [--json]`. Progress goes
to stderr; with --json, stdout holds one JSON object with the same figures as the tables.
Other busy processes distort the 2-thread figures most: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # works without the editable install
import mlp
from benchmarks.results import save
from stages.common.mnist import N_CLASSES, N_FEATURES

BATCH_SIZES = (32, 64, 128, 256)
HIDDEN_SIZES = ([128, 64], [512, 512], [1024, 1024])
THREADS = (1, 2)
N_SAMPLES = 10_000
LEARNING_RATE, MOMENTUM = 0.05, 0.9


def random_data() -> tuple[np.ndarray, np.ndarray]:
    """X (10000, 784) float32 uniform in [0, 1), y (10000,) int64 labels 0..9."""
    rng = np.random.default_rng(0)
    return rng.random((N_SAMPLES, N_FEATURES), dtype=np.float32), rng.integers(0, N_CLASSES, size=N_SAMPLES)


def epoch_seconds(
    model: mlp.MLP, optimizer: mlp.Optimizer, X: np.ndarray, y: np.ndarray, batch_size: int
) -> float:
    """Wall time of one training epoch of `model` (its weights carry over between calls)."""
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    mlp.fit(model, X, y, optimizer=optimizer, rng=rng, epochs=1, batch_size=batch_size)
    return time.perf_counter() - start


def predict_seconds(model: mlp.MLP, X: np.ndarray) -> float:
    """Wall time of one forward pass over X in the chunks `evaluate` uses."""
    start = time.perf_counter()
    model.predict_logits(X)
    return time.perf_counter() - start


def alternate(timer: Callable[[], float], repeats: int) -> dict[int, list[float]]:
    """timer() timed `repeats` times per thread count, thread counts alternating, after a warm-up each."""
    seconds: dict[int, list[float]] = {threads: [] for threads in THREADS}
    for threads in THREADS:
        with threadpool_limits(limits=threads, user_api="blas"):
            timer()
    for _ in range(repeats):
        for threads in THREADS:
            with threadpool_limits(limits=threads, user_api="blas"):
                seconds[threads].append(timer())
    return seconds


def row(seconds: dict[int, list[float]], **key: object) -> dict:
    """One table row: samples/s per thread count, the 2-over-1 speed-up and the faster count."""
    rates = {threads: N_SAMPLES / statistics.median(times) for threads, times in seconds.items()}
    return {
        **key,
        "samples_per_s": {str(threads): rate for threads, rate in rates.items()},
        "speedup_2_over_1": rates[2] / rates[1],
        "faster_threads": max(rates, key=rates.__getitem__),
        "seconds": {str(threads): times for threads, times in seconds.items()},
    }


def measure(X: np.ndarray, y: np.ndarray, repeats: int) -> tuple[list[dict], list[dict]]:
    """Training rows for every (width, batch size) and prediction rows for every width."""
    training, prediction = [], []
    for hidden_sizes in HIDDEN_SIZES:
        model = mlp.MLP([N_FEATURES, *hidden_sizes, N_CLASSES], np.random.default_rng(0))
        for batch_size in BATCH_SIZES:
            print(f"training {hidden_sizes} at batch {batch_size}", file=sys.stderr, flush=True)
            optimizer = mlp.make_optimizer("nesterov", model.parameters(), LEARNING_RATE, momentum=MOMENTUM)
            seconds = alternate(functools.partial(epoch_seconds, model, optimizer, X, y, batch_size), repeats)
            training.append(row(seconds, hidden_sizes=hidden_sizes, batch_size=batch_size))
        print(f"prediction {hidden_sizes}", file=sys.stderr, flush=True)
        seconds = alternate(functools.partial(predict_seconds, model, X), repeats)
        prediction.append(row(seconds, hidden_sizes=hidden_sizes))
    return training, prediction


def print_tables(report: dict) -> None:
    """The human-readable tables."""
    blas = report["blas"]
    print(
        f"{report['n_samples']} random samples; numpy {report['numpy']}, BLAS {blas.get('internal_api')} "
        f"{blas.get('version')} ({blas.get('architecture')}); {report['cpu_count']} CPUs; median of "
        f"{report['repeats']} epochs; load average {report['load_average_before']:.2f} before, "
        f"{report['load_average_after']:.2f} after"
    )
    header = f"{'hidden':>12}  {'batch':>5}  {'1 thread/s':>10}  {'2 threads/s':>11}  {'2 vs 1':>6}  faster"
    print("\nTraining (samples/s, one epoch of mlp.fit)")
    print(header)
    print("-" * len(header))
    for entry in report["training"]:
        _print_row(entry, entry["batch_size"])
    print("\nPrediction (samples/s, predict_logits in chunks of 4,096, as evaluate does)")
    print(header)
    print("-" * len(header))
    for entry in report["prediction"]:
        _print_row(entry, "-")


def _print_row(entry: dict, batch: object) -> None:
    rates = entry["samples_per_s"]
    hidden = "x".join(str(size) for size in entry["hidden_sizes"])
    print(
        f"{hidden:>12}  {batch:>5}  {rates['1']:>10,.0f}  {rates['2']:>11,.0f}  "
        f"{entry['speedup_2_over_1']:>5.2f}x  {entry['faster_threads']}"
    )


def numpy_blas() -> dict:
    """threadpoolctl's record of the BLAS library numpy calls."""
    blas = [info for info in threadpool_info() if info["user_api"] == "blas"]
    return next((info for info in blas if "numpy" in info["filepath"]), blas[0]) if blas else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed epochs per figure (>= 3); the median counts"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout instead of tables"
    )
    args = parser.parse_args()
    if args.repeats < 3:
        parser.error(f"--repeats must be at least 3, got {args.repeats}")
    load_before = os.getloadavg()[0]
    X, y = random_data()
    training, prediction = measure(X, y, args.repeats)
    blas = numpy_blas()
    report = {
        "n_samples": N_SAMPLES,
        "repeats": args.repeats,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "blas": {key: blas.get(key) for key in ("internal_api", "version", "architecture", "num_threads")},
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
        "training": training,
        "prediction": prediction,
    }
    save(__file__, report)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_tables(report)


if __name__ == "__main__":
    main()
