"""Network sources for the fetch stage: HTTP mirrors (standard library only) and OpenML.

Every request has a socket timeout (connect and each read) and a capped body size; only
transient failures (timeouts, resets, cut-short bodies, 429, 5xx) are retried, with
exponential backoff. Checksums and file layout are the caller's business (stages/fetch.py).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from stages.common.mnist import (
    IMAGE_SIDE,
    N_CLASSES,
    N_FEATURES,
    N_TEST,
    N_TRAIN,
    encode_idx,
    images_file,
    labels_file,
)

USER_AGENT = "numpy-mlp-mnist-fetch/0.1 (urllib)"
CHUNK_BYTES = 1 << 16


class SourceError(Exception):
    """One source could not supply a file; the message says why.

    `transient` marks failures worth retrying; `unreachable` marks a source not worth asking
    again for other files (refused, no DNS, or still failing after every retry).
    """

    def __init__(self, reason: str, *, transient: bool = False, unreachable: bool = False):
        super().__init__(reason)
        self.transient, self.unreachable = transient, unreachable


def download(url: str, *, timeout: float, retries: int, backoff: float, max_bytes: int, label: str) -> bytes:
    """Return the body of `url`, retrying transient failures `retries` times; raise SourceError.

    Worst case wall time: (retries + 1) * timeout per stalled read, plus backoff * (2**retries - 1).
    """
    for attempt in range(retries + 1):
        try:
            return _get(url, timeout, max_bytes, label)
        except SourceError as error:
            if not error.transient:
                raise
            if attempt == retries:
                raise SourceError(
                    f"{error} (gave up after {retries + 1} attempts)", unreachable=True
                ) from None
            time.sleep(backoff * 2**attempt)
    raise AssertionError("unreachable: the loop returns or raises")


def _get(url: str, timeout: float, max_bytes: int, label: str) -> bytes:
    """One GET of `url`, mapping every network failure to a SourceError."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if response.headers.get_content_type() == "text/html":
                raise SourceError("served an HTML page (Content-Type text/html), not the file")
            body = _read_body(response, max_bytes, label)
    except urllib.error.HTTPError as error:
        error.close()
        transient = error.code == 429 or error.code >= 500
        raise SourceError(f"HTTP {error.code} {error.reason}", transient=transient) from None
    except urllib.error.URLError as error:
        raise _connection_error(error.reason, timeout) from None
    except (OSError, http.client.HTTPException) as error:
        raise _connection_error(error, timeout) from None
    if body.lstrip()[:1] == b"<":
        raise SourceError("served an HTML page (body starts with '<'), not the file")
    return body


def _read_body(response: http.client.HTTPResponse, max_bytes: int, label: str) -> bytes:
    """Read the body in chunks behind a progress bar, refusing oversized or cut-short bodies."""
    length = response.headers.get("Content-Length", "")
    expected = int(length) if length.isdigit() else None
    if expected is not None and expected > max_bytes:
        raise SourceError(f"announces {expected} bytes, more than the {max_bytes} byte limit")
    body = bytearray()
    # disable=None: the bar shows on a terminal and stays silent in CI and DVC logs.
    with tqdm(
        total=expected, desc=label, unit="B", unit_scale=True, file=sys.stderr, disable=None, leave=False
    ) as bar:
        while chunk := response.read(CHUNK_BYTES):
            body += chunk
            bar.update(len(chunk))
            if len(body) > max_bytes:
                raise SourceError(f"sent more than the {max_bytes} byte limit")
    # http.client returns short reads quietly when the server closes early, so check the length.
    if expected is not None and len(body) != expected:
        raise SourceError(f"connection closed after {len(body)} of {expected} bytes", transient=True)
    return bytes(body)


def _connection_error(reason: object, timeout: float) -> SourceError:
    """Classify a low-level failure: refused, DNS and TLS errors are final, the rest transient."""
    if isinstance(reason, ConnectionRefusedError):
        return SourceError("connection refused", unreachable=True)
    if isinstance(reason, socket.gaierror):
        return SourceError(f"host name lookup failed ({reason.strerror}); offline?", unreachable=True)
    if isinstance(reason, ssl.SSLError):
        return SourceError(f"TLS error: {reason}", unreachable=True)
    if isinstance(reason, TimeoutError):
        return SourceError(f"no answer within {timeout:g} s", transient=True)
    if isinstance(reason, (OSError, http.client.HTTPException)):
        return SourceError(f"connection failed: {type(reason).__name__} {reason}", transient=True)
    return SourceError(f"request failed: {reason}")


def load_openml_mnist(*, timeout: float, retries: int, backoff: float) -> dict[str, bytes]:
    """Return the four MNIST IDX files rebuilt from OpenML `mnist_784`, keyed by file name."""
    # Deferred: importing scikit-learn takes a second and this fallback is rarely needed.
    from sklearn import datasets

    previous_timeout = socket.getdefaulttimeout()
    # Workaround: fetch_openml has no timeout argument, so set the process default around it.
    socket.setdefaulttimeout(timeout)
    try:
        bunch = datasets.fetch_openml(
            "mnist_784", version=1, as_frame=False, parser="liac-arff", n_retries=retries, delay=backoff
        )
    except (OSError, ValueError) as error:
        raise SourceError(f"{type(error).__name__}: {error}") from None
    finally:
        socket.setdefaulttimeout(previous_timeout)
    return openml_to_idx(bunch.data, bunch.target)


def openml_to_idx(data: npt.ArrayLike, target: npt.ArrayLike) -> dict[str, bytes]:
    """Turn OpenML's (70000, 784) pixels and string labels into the four IDX files' bytes.

    OpenML keeps MNIST's order: the 60000 training rows come first, then the 10000 test rows.
    """
    n_rows = N_TRAIN + N_TEST
    pixels, classes = np.asarray(data), np.asarray(target)
    if pixels.shape != (n_rows, N_FEATURES) or classes.shape != (n_rows,):
        raise SourceError(
            f"expected ({n_rows}, {N_FEATURES}) pixels and {n_rows} labels, "
            f"got {pixels.shape} and {classes.shape}"
        )
    if pixels.size and (pixels.min() < 0 or pixels.max() > 255):
        raise SourceError("pixels fall outside 0..255")
    images = pixels.astype(np.uint8).reshape(n_rows, IMAGE_SIDE, IMAGE_SIDE)
    if not np.array_equal(images.reshape(n_rows, N_FEATURES), pixels):
        raise SourceError("pixels are not whole numbers")
    try:
        numbers = classes.astype(np.int64)  # OpenML gives the classes as strings '0'..'9'
    except (TypeError, ValueError) as error:
        raise SourceError(f"labels are not integers: {error}") from None
    if numbers.min() < 0 or numbers.max() >= N_CLASSES:
        raise SourceError(f"labels fall outside 0..{N_CLASSES - 1}")
    labels = numbers.astype(np.uint8)
    split = N_TRAIN
    return {
        images_file("train"): encode_idx(images[:split]),
        labels_file("train"): encode_idx(labels[:split]),
        images_file("t10k"): encode_idx(images[split:]),
        labels_file("t10k"): encode_idx(labels[split:]),
    }
