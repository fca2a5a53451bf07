"""Training speed: our epoch against scikit-learn and against its own matrix products, and what
the per-epoch history costs a default training.

What it measures, on one BLAS thread, in float32, in one run:

- epoch, for each batch size (32 and 128): one training epoch of the 784-128-64-10 ReLU network
  (He init, plain SGD at learning rate 0.1) on 60,000 MNIST-shaped samples, three ways,
  alternating so that a slow spell of the machine hits all three:
  - ours: `mlp.fit(..., epochs=1)`, input checks included (the model is built untimed);
  - scikit-learn: `MLPClassifier(max_iter=1, momentum=0, ...).fit` on the same float32 data (its
    checks and weight initialisation count; it keeps its default L2 penalty alpha=1e-4);
  - matmul: the epoch's matrix products alone at the same shapes, into preallocated arrays of
    random values (forward X @ W, dW = X.T @ dZ, and dX = dZ @ W.T but for the first layer, for
    each of the epoch's batches, the last one smaller): the limit a NumPy step could reach if
    everything else (gathering, bias, activations, loss, updates) were free.
- history: the share of a default training (params.yaml's train settings and `medium`
  architecture, on 8,000 training and 2,000 test images, as the default pipeline) spent on the
  per-epoch history: (time with the test set evaluated every epoch - time without) / time with.
  For comparison, the same share when the whole training set is evaluated as well, as fit did
  before its train_* figures became running ones.

Times are CPU seconds of this process (time.process_time): with one thread they equal wall
time on an idle machine, and on a shared one they leave out the time spent waiting for a core.
Each figure is the median of --repeats runs after one untimed warm-up. Targets (TARGETS):
ours <= 1.3x the matmul time at batch 32; scikit-learn / ours >= 2.5 at batch 32 and >= 1.7 at
batch 128; the history <= 10% of a default training.

Data: real MNIST when MNIST_DIR names a folder holding train-images-idx3-ubyte(.gz) and
train-labels-idx1-ubyte(.gz); otherwise random data of the same shape (uniform [0, 1) float32
pixels, labels 0..9, from np.random.default_rng(0)). Speed barely depends on the values.

Run from the project root: `python benchmarks/train_throughput.py [--batch-sizes 32 128]
[--repeats 5] [--json]`. Progress goes to stderr; results/train_throughput.json keeps the figures
(and every timed run), from which `python -m tools.readme` renders the README's speed section.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # works without the editable install
import mlp
from benchmarks.results import save
from stages.common.mnist import N_CLASSES, N_FEATURES, N_TRAIN, images_file, labels_file, parse_idx
from stages.common.params import architecture_settings
from stages.common.params_core import load_params
from stages.train import train_model

LAYER_SIZES = [N_FEATURES, 128, 64, N_CLASSES]
LEARNING_RATE = 0.1
N_SAMPLES = N_TRAIN
HISTORY_ARCH, HISTORY_TRAIN, HISTORY_TEST, HISTORY_EPOCHS = "medium", 8000, 2000, 5
# name -> (what, limit, True if the figure must be at most the limit, else at least)
TARGETS: dict[str, tuple[str, float, bool]] = {
    "matmul_ratio_32": ("batch 32: our epoch / its matrix products alone", 1.3, True),
    "sklearn_ratio_32": ("batch 32: scikit-learn's epoch / ours", 2.5, False),
    "sklearn_ratio_128": ("batch 128: scikit-learn's epoch / ours", 1.7, False),
    "history_fraction": ("per-epoch history / default training", 0.10, True),
}
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


def cpu_seconds(run: Callable[[], Any]) -> float:
    """CPU seconds of this process while `run()` runs."""
    start = time.process_time()
    run()
    return time.process_time() - start


def ours(X: np.ndarray, y: np.ndarray, batch_size: int) -> Callable[[], Any]:
    """One epoch of a freshly built model (built now, untimed)."""
    model = mlp.MLP(LAYER_SIZES, rng=np.random.default_rng(0))
    optimizer = mlp.make_optimizer("sgd", model.parameters(), LEARNING_RATE)
    return lambda: mlp.fit(
        model, X, y, optimizer=optimizer, rng=np.random.default_rng(0), epochs=1, batch_size=batch_size
    )


def theirs(X: np.ndarray, y: np.ndarray, batch_size: int) -> Callable[[], Any]:
    """scikit-learn's one-epoch fit of the same network with plain SGD."""
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

    def run() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=1 never "converges"
            model.fit(X, y)
        assert model.coefs_[0].dtype == X.dtype, "scikit-learn did not train in float32"

    return run


def alternate(
    makers: dict[str, Callable[[], Callable[[], Any]]], repeats: int, what: str
) -> dict[str, list[float]]:
    """`repeats` CPU timings of each maker's run, after one warm-up of each, alternating."""
    seconds: dict[str, list[float]] = {name: [] for name in makers}
    for run in range(repeats + 1):
        print(f"{what}: run {run + 1} of {repeats + 1} (the first is a warm-up)", file=sys.stderr, flush=True)
        for name, make in makers.items():
            elapsed = cpu_seconds(make())
            if run:
                seconds[name].append(elapsed)
    return seconds


def matmul_epoch(batch_size: int, layer_sizes: list[int] = LAYER_SIZES) -> Callable[[], Any]:
    """One epoch's matrix products alone, on arrays made now (untimed) of finite random values:
    uninitialised memory could hold subnormals or NaNs, which slow some BLAS kernels down."""
    rng = np.random.default_rng(1)
    pairs = list(zip(layer_sizes[:-1], layer_sizes[1:], strict=True))
    weights = [rng.standard_normal(pair, dtype=np.float32) for pair in pairs]
    grads = [np.empty_like(W) for W in weights]
    # activations[i] is layer i's input (batch, fan_in), the last the logits; deltas[i + 1] is dZ of layer i
    activations = [rng.random((batch_size, size), dtype=np.float32) for size in layer_sizes]
    deltas = [rng.random((batch_size, size), dtype=np.float32) for size in layer_sizes]
    rows = [min(batch_size, N_SAMPLES - start) for start in range(0, N_SAMPLES, batch_size)]

    def run() -> None:
        for n in rows:
            for i, W in enumerate(weights):
                np.matmul(activations[i][:n], W, out=activations[i + 1][:n])
            for i in range(len(weights) - 1, -1, -1):
                np.matmul(activations[i][:n].T, deltas[i + 1][:n], out=grads[i])
                if i > 0:
                    np.matmul(deltas[i + 1][:n], weights[i].T, out=deltas[i][:n])

    return run


def epoch_figures(X: np.ndarray, y: np.ndarray, batch_size: int, repeats: int) -> dict[str, Any]:
    """Ours, scikit-learn's and the matmul-only epoch at one batch size, one BLAS thread."""
    makers = {
        "ours": lambda: ours(X, y, batch_size),
        "sklearn": lambda: theirs(X, y, batch_size),
        "matmul": lambda: matmul_epoch(batch_size),
    }
    seconds = alternate(makers, repeats, f"epoch, batch {batch_size}")
    median = {name: statistics.median(values) for name, values in seconds.items()}
    return {
        "batch_size": batch_size,
        "threads": 1,
        "ours_samples_per_s": N_SAMPLES / median["ours"],
        "sklearn_samples_per_s": N_SAMPLES / median["sklearn"],
        "matmul_samples_per_s": N_SAMPLES / median["matmul"],
        "ratio": median["sklearn"] / median["ours"],  # how many times faster than scikit-learn
        "matmul_ratio": median["ours"] / median["matmul"],  # how many times the matrix products alone
        "median_seconds": median,
        "seconds": seconds,
    }


def history_figures(X: np.ndarray, y: np.ndarray, repeats: int) -> dict[str, Any]:
    """The per-epoch history's share of a default training, now and with a training-set pass."""
    settings = architecture_settings(load_params(), HISTORY_ARCH) | {"seed": 42, "epochs": HISTORY_EPOCHS}
    train = X[:HISTORY_TRAIN], y[:HISTORY_TRAIN]
    test = X[HISTORY_TRAIN : HISTORY_TRAIN + HISTORY_TEST], y[HISTORY_TRAIN : HISTORY_TRAIN + HISTORY_TEST]
    variants = {"none": {}, "test": {"test": test}, "train_and_test": {"train_set": train, "test": test}}

    def maker(eval_sets: dict[str, Any]) -> Callable[[], Callable[[], Any]]:
        return lambda: lambda: train_model(*train, eval_sets, settings, "history benchmark")

    seconds = alternate({name: maker(sets) for name, sets in variants.items()}, repeats, "history")
    median = {name: statistics.median(values) for name, values in seconds.items()}
    return {
        "settings": settings,
        "n_train": HISTORY_TRAIN,
        "n_test": HISTORY_TEST,
        "fraction": (median["test"] - median["none"]) / median["test"],
        "fraction_with_training_set_pass": (median["train_and_test"] - median["none"])
        / median["train_and_test"],
        "median_seconds": median,
        "seconds": seconds,
    }


def verdicts(results: list[dict[str, Any]], history: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of TARGETS with the figure measured for it (None if not measured) and whether it is met."""
    by_batch = {row["batch_size"]: row for row in results}
    measured = {
        "matmul_ratio_32": by_batch.get(32, {}).get("matmul_ratio"),
        "sklearn_ratio_32": by_batch.get(32, {}).get("ratio"),
        "sklearn_ratio_128": by_batch.get(128, {}).get("ratio"),
        "history_fraction": history["fraction"],
    }
    return [
        {
            "name": name,
            "what": what,
            "target": limit,
            "at_most": at_most,
            "measured": measured[name],
            "met": None
            if measured[name] is None
            else (measured[name] <= limit if at_most else measured[name] >= limit),
        }
        for name, (what, limit, at_most) in TARGETS.items()
    ]


def report_lines(report: dict[str, Any]) -> list[str]:
    """The human-readable summary: the epoch table, the history's share, the targets."""
    blas = report["blas"]
    lines = [
        report["data"],
        f"numpy {report['numpy']}, scikit-learn {report['sklearn']}, python {report['python']}; BLAS "
        f"{blas.get('internal_api')} {blas.get('version')} ({blas.get('architecture')}), 1 thread; "
        f"CPU seconds, median of {report['repeats']}; "
        f"load average {report['load_average_1min_before']:.2f} before",
        f"{'batch':>5}  {'ours s':>7}  {'sklearn s':>9}  {'matmul s':>8}  "
        f"{'sklearn/ours':>12}  {'ours/matmul':>11}",
    ]
    for row in report["results"]:
        median = row["median_seconds"]
        lines.append(
            f"{row['batch_size']:>5}  {median['ours']:>7.3f}  {median['sklearn']:>9.3f}  "
            f"{median['matmul']:>8.3f}  {row['ratio']:>11.2f}x  {row['matmul_ratio']:>10.2f}x"
        )
    history = report["history"]
    lines.append(
        f"history: {history['fraction']:.1%} of a default training ({history['settings']['epochs']} "
        f"epochs of {HISTORY_ARCH}, test set every epoch); "
        f"{history['fraction_with_training_set_pass']:.1%} with a training-set pass as well"
    )
    for target in report["targets"]:
        sign = "<=" if target["at_most"] else ">="
        figure = "not measured" if target["measured"] is None else f"{target['measured']:.3g}"
        verdict = {None: "", True: "met", False: "MISSED"}[target["met"]]
        lines.append(f"target {target['what']} {sign} {target['target']:g}: {figure} {verdict}")
    return lines


def parse_args() -> argparse.Namespace:
    """The command line: batch sizes, repeats, --json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128], metavar="B")
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed runs per figure (>= 3); the median counts"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of text")
    args = parser.parse_args()
    if args.repeats < 3:
        parser.error(f"--repeats must be at least 3, got {args.repeats}")
    if any(not 1 <= b <= N_SAMPLES for b in args.batch_sizes):
        parser.error(f"--batch-sizes must lie in 1..{N_SAMPLES}, got {args.batch_sizes}")
    return args


def main() -> None:
    args = parse_args()
    load_before = os.getloadavg()[0]
    X, y, data_line = load_data()
    with threadpool_limits(limits=1, user_api="blas"):
        results = [epoch_figures(X, y, batch_size, args.repeats) for batch_size in args.batch_sizes]
        history = history_figures(X, y, args.repeats)
    blas = numpy_blas()
    report = {
        "data": data_line,
        "real_mnist": data_line.startswith("real MNIST"),
        "n_samples": len(X),
        "layer_sizes": LAYER_SIZES,
        "repeats": args.repeats,
        "timer": "process_time",
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average_1min_before": load_before,
        "blas": {key: blas.get(key) for key in BLAS_KEYS},
        "results": results,
        "history": history,
        "targets": verdicts(results, history),
    }
    save(__file__, report)
    print(json.dumps(report, indent=2) if args.json else "\n".join(report_lines(report)))


if __name__ == "__main__":
    main()
