"""Training throughput of our MLP against scikit-learn's MLPClassifier, one epoch at a time.

What it measures: samples per second for one training epoch of the 784-128-64-10 network
(ReLU, He init, plain SGD with learning rate 0.1, float32) on 60,000 MNIST-shaped samples,
for each batch size and BLAS thread count asked for. Each figure is 60,000 divided by the
median wall time (time.perf_counter) of `--repeats` epochs, after one untimed warm-up epoch.
Models are built outside the timed region; ours is timed around `mlp.fit(..., epochs=1)`,
scikit-learn's around `MLPClassifier(max_iter=1, momentum=0, ...).fit`, so each side's input
checks (and scikit-learn's weight initialisation) count, as they would in a one-epoch fit.
scikit-learn keeps its default L2 penalty alpha=1e-4, a small extra cost ours does not pay.
Both run on the same float32 data under the same `threadpool_limits(limits=N, user_api="blas")`,
and their epochs are interleaved so that a slow spell of the machine hits both.

Data: real MNIST when MNIST_DIR names a folder holding train-images-idx3-ubyte(.gz) and
train-labels-idx1-ubyte(.gz); otherwise random data of the same shape (uniform [0, 1) float32
pixels, labels 0..9, from np.random.default_rng(0)). Throughput barely depends on the values.

Targets: ours >= 3x scikit-learn at batch size 32 and >= 1.8x at batch size 128.

Run from the project root: `python benchmarks/train_throughput.py [--batch-sizes 32 128]
[--threads 1 2] [--repeats 3] [--json]`. Progress goes to stderr; with --json, stdout holds
only one JSON object with the same figures as the table.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # works without the editable install
import mlp
from benchmarks.results import save
from stages.common.mnist import N_CLASSES, N_FEATURES, N_TRAIN, images_file, labels_file, parse_idx

LAYER_SIZES = [N_FEATURES, 128, 64, N_CLASSES]
LEARNING_RATE = 0.1
N_SAMPLES = N_TRAIN
TARGET_RATIOS = {32: 3.0, 128: 1.8}  # ours / scikit-learn, by batch size
BLAS_KEYS = ("internal_api", "version", "architecture", "threading_layer", "num_threads", "filepath")
IMAGES_FILE, LABELS_FILE = images_file("train"), labels_file("train")


def read_idx(folder: Path, name: str) -> np.ndarray:
    """The array in one IDX file of `folder`, .gz or not, parsed as strictly as the pipeline does."""
    path = folder / f"{name}.gz" if (folder / f"{name}.gz").is_file() else folder / name
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return parse_idx(raw, str(path))


def load_data() -> tuple[np.ndarray, np.ndarray, str]:
    """X (60000, 784) float32, y (60000,) int64, and a line saying which data they are."""
    folder = Path(os.environ.get("MNIST_DIR", ""))
    has_files = all(
        (folder / name).is_file() or (folder / f"{name}.gz").is_file() for name in (IMAGES_FILE, LABELS_FILE)
    )
    if os.environ.get("MNIST_DIR") and has_files:
        images = read_idx(folder, IMAGES_FILE)
        X = images.reshape(len(images), -1).astype(np.float32) / np.float32(255)
        y = read_idx(folder, LABELS_FILE).astype(np.int64)
        if X.shape != (N_SAMPLES, LAYER_SIZES[0]) or y.shape != (N_SAMPLES,):
            raise ValueError(f"expected {N_SAMPLES} images of 28x28 in {folder}, got {X.shape}, {y.shape}")
        return X, y, f"real MNIST training set ({len(X)} x {X.shape[1]}, from {folder})"
    rng = np.random.default_rng(0)
    X = rng.random((N_SAMPLES, LAYER_SIZES[0]), dtype=np.float32)
    y = rng.integers(0, LAYER_SIZES[-1], size=N_SAMPLES)
    has_dir = bool(os.environ.get("MNIST_DIR"))
    why = f"MNIST_DIR={folder} lacks the train IDX files" if has_dir else "MNIST_DIR unset"
    return X, y, f"random data, uniform [0, 1) float32 ({N_SAMPLES} x {LAYER_SIZES[0]}; {why})"


def numpy_blas() -> dict:
    """threadpoolctl's record of the BLAS that numpy (and so both models) calls."""
    blas = [info for info in threadpool_info() if info["user_api"] == "blas"]
    if not blas:
        return {}
    return next((info for info in blas if "numpy" in info["filepath"]), blas[0])


def time_ours(X: np.ndarray, y: np.ndarray, batch_size: int) -> float:
    """Seconds for one epoch of a freshly built model (building it is not timed)."""
    model = mlp.MLP(LAYER_SIZES, rng=np.random.default_rng(0), activation="relu", init="he", dtype="float32")
    optimizer = mlp.make_optimizer("sgd", model.parameters(), LEARNING_RATE)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    mlp.fit(model, X, y, optimizer=optimizer, rng=rng, epochs=1, batch_size=batch_size)
    return time.perf_counter() - start


def time_sklearn(X: np.ndarray, y: np.ndarray, batch_size: int) -> float:
    """Seconds for scikit-learn's one-epoch fit of the same network with plain SGD."""
    model = MLPClassifier(
        hidden_layer_sizes=tuple(LAYER_SIZES[1:-1]),
        solver="sgd",
        momentum=0,
        learning_rate_init=LEARNING_RATE,
        batch_size=batch_size,
        max_iter=1,
        shuffle=True,
        random_state=0,
        tol=0,
        n_iter_no_change=10**9,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=1 never "converges"
        start = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - start
    assert model.coefs_[0].dtype == X.dtype, "scikit-learn did not train in float32"
    return seconds


def measure(X: np.ndarray, y: np.ndarray, batch_size: int, threads: int, repeats: int) -> dict:
    """Median epoch throughput of both models at one batch size and BLAS thread count."""
    with threadpool_limits(limits=threads, user_api="blas"):
        effective_threads = numpy_blas().get("num_threads")
        time_ours(X, y, batch_size)  # warm-up: caches, allocator, BLAS thread pool
        time_sklearn(X, y, batch_size)
        ours, theirs = [], []
        for _ in range(repeats):
            ours.append(time_ours(X, y, batch_size))
            theirs.append(time_sklearn(X, y, batch_size))
    ours_rate, sklearn_rate = len(X) / statistics.median(ours), len(X) / statistics.median(theirs)
    return {
        "batch_size": batch_size,
        "threads": threads,
        "blas_threads_in_effect": effective_threads,
        "ours_samples_per_s": ours_rate,
        "sklearn_samples_per_s": sklearn_rate,
        "ratio": ours_rate / sklearn_rate,
        "target_ratio": TARGET_RATIOS.get(batch_size),
        "ours_epoch_seconds": ours,
        "sklearn_epoch_seconds": theirs,
    }


def fastest_threads(results: list[dict]) -> dict[int, int]:
    """For each batch size, the thread count at which our MLP is fastest."""
    best: dict[int, dict] = {}
    for row in results:
        current = best.get(row["batch_size"])
        if current is None or row["ours_samples_per_s"] > current["ours_samples_per_s"]:
            best[row["batch_size"]] = row
    return {batch_size: row["threads"] for batch_size, row in best.items()}


def print_table(report: dict) -> None:
    """The human-readable table, one row per (batch size, threads)."""
    print(report["data"])
    blas = report["blas"]
    print(
        f"numpy {report['numpy']}, scikit-learn {report['sklearn']}, python {report['python']}; "
        f"BLAS {blas.get('internal_api')} {blas.get('version')} ({blas.get('architecture')}, "
        f"{blas.get('threading_layer')}, {blas.get('num_threads')} threads by default); "
        f"median of {report['repeats']} epochs"
    )
    print(
        f"{report['cpu_count']} CPUs; 1-min load average {report['load_average_1min_before']:.2f} "
        "before the run (well above 0 means other work competed for the cores)"
    )
    best = {int(k): v for k, v in report["fastest_threads"].items()}
    header = (
        f"{'batch':>5}  {'threads':>7}  {'ours samples/s':>14}  "
        f"{'sklearn samples/s':>17}  {'ratio':>6}  target"
    )
    print(header)
    print("-" * len(header))
    for row in report["results"]:
        target = row["target_ratio"]
        met = target is not None and row["ratio"] >= target
        verdict = "" if target is None else f">= {target:.1f}x {'met' if met else 'MISSED'}"
        mark = "*" if best[row["batch_size"]] == row["threads"] else " "
        print(
            f"{row['batch_size']:>5}  {row['threads']:>6}{mark}  {row['ours_samples_per_s']:>14,.0f}  "
            f"{row['sklearn_samples_per_s']:>17,.0f}  {row['ratio']:>5.2f}x  {verdict}"
        )
    print("* = the thread count at which our MLP is fastest for that batch size")


def parse_args() -> argparse.Namespace:
    """The command line: batch sizes, thread counts, repeats, --json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128], metavar="B")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], metavar="N", help="BLAS threads")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed epochs per figure (>= 3); the median counts"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout instead of the table"
    )
    args = parser.parse_args()
    if args.repeats < 3:
        parser.error(f"--repeats must be at least 3, got {args.repeats}")
    if any(not 1 <= b <= N_SAMPLES for b in args.batch_sizes):
        parser.error(f"--batch-sizes must lie in 1..{N_SAMPLES}, got {args.batch_sizes}")
    if any(n < 1 for n in args.threads):
        parser.error(f"--threads must be positive, got {args.threads}")
    return args


def main() -> None:
    args = parse_args()
    # Other busy processes ruin the 2-thread figures (OpenBLAS threads spin while they wait).
    load_before = os.getloadavg()[0]
    X, y, data_line = load_data()
    results = []
    for batch_size in args.batch_sizes:
        for threads in args.threads:
            print(f"timing batch {batch_size}, {threads} BLAS thread(s)", file=sys.stderr, flush=True)
            results.append(measure(X, y, batch_size, threads, args.repeats))
    blas = numpy_blas()
    report = {
        "data": data_line,
        "real_mnist": data_line.startswith("real MNIST"),
        "n_samples": len(X),
        "layer_sizes": LAYER_SIZES,
        "repeats": args.repeats,
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average_1min_before": load_before,
        "blas": {key: blas.get(key) for key in BLAS_KEYS},
        "fastest_threads": {str(b): n for b, n in fastest_threads(results).items()},
        "results": results,
    }
    save(__file__, report)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)


if __name__ == "__main__":
    main()
