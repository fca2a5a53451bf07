"""scikit-learn's `MLPClassifier()` with its defaults on full MNIST: the README's reference row.

Defaults: one hidden layer of 100 ReLU units, Adam at 0.001, batch 200, up to 200 epochs with
early stopping on the training loss, L2 alpha 1e-4, random_state 0 for repeatability. Data: the
official split from MNIST_DIR (IDX files, .gz or not), pixels / 255. Records the test accuracy,
the epochs run, the parameter count and the fit's wall time (one BLAS thread, like our recipe)
in benchmarks/results/sklearn_default.json.

Run from the project root: `MNIST_DIR=/path/to/mnist python benchmarks/sklearn_default.py`.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # works without the editable install
from benchmarks.results import save
from benchmarks.train_throughput import read_idx
from stages.common.mnist import images_file, labels_file


def split(folder: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(X float32 in [0, 1], y) of one MNIST split ("train" or "t10k")."""
    images = read_idx(folder, images_file(name))
    return images.reshape(len(images), -1).astype(np.float32) / 255, read_idx(folder, labels_file(name))


def main() -> None:
    if not os.environ.get("MNIST_DIR"):
        raise SystemExit("set MNIST_DIR to a folder holding the four MNIST IDX files")
    folder = Path(os.environ["MNIST_DIR"])
    (X_train, y_train), (X_test, y_test) = split(folder, "train"), split(folder, "t10k")
    model = MLPClassifier(random_state=0)
    started = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    seconds = time.perf_counter() - started
    accuracy = float(np.mean(model.predict(X_test) == y_test))
    n_parameters = sum(w.size for w in model.coefs_) + sum(b.size for b in model.intercepts_)
    report = {
        "model": "MLPClassifier() defaults, random_state=0",
        "sklearn": sklearn.__version__,
        "test_accuracy": accuracy,
        "epochs": model.n_iter_,
        "n_parameters": int(n_parameters),
        "fit_seconds": round(seconds, 1),
        "blas_threads": 1,
    }
    save(__file__, report)
    print(report)


if __name__ == "__main__":
    main()
