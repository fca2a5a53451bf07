"""Fetch stage: write the four decompressed MNIST IDX files, each verified by its SHA-256.

Sources, in order: the folder in $MNIST_DIR (and nothing else when it is set), the HTTP
mirrors, then OpenML. Nothing reaches the output folder unverified, and files already there
with the right checksum are kept. Usage: python -m stages.fetch data/raw
"""

from __future__ import annotations

import argparse
import hashlib
import os
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlp.reading import UnreadableFileError, open_regular, read_bytes
from stages.common.download import SourceError, download, load_openml_mnist
from stages.common.mnist import CHECKSUMS, MAX_FILE_BYTES, load_mnist_split
from stages.common.output import open_output
from stages.common.runner import StageError, run_stage

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
# A stalled mirror costs at most 3 * 30 s + 3 s of backoff before it is skipped for good.
TIMEOUT_SECONDS, RETRIES, BACKOFF_SECONDS = 30.0, 2, 1.0
GZIP_PIECE = 64  # bytes a gzip member is first handed (_gunzip)
OPENML = "OpenML mnist_784"


class FetchError(StageError):
    """No source could supply a verified file; the message lists what was tried and the fix."""


def fetch_mnist(
    out_dir: str | os.PathLike[str],
    *,
    local_dir: str | os.PathLike[str] | None = None,
    checksums: Mapping[str, str] = CHECKSUMS,
    mirrors: Sequence[str] = MIRRORS,
    timeout: float = TIMEOUT_SECONDS,
    retries: int = RETRIES,
    backoff: float = BACKOFF_SECONDS,
    use_openml: bool = True,
) -> dict[str, str]:
    """Make `out_dir` hold every file in `checksums`, verified; return where each one came from.

    With `local_dir` set, files come from there only (as NAME.gz or NAME). Otherwise each
    missing file is tried on every mirror (URL = mirror + NAME + ".gz"), then on OpenML.
    """
    out_dir = Path(out_dir)
    present = [name for name, sha in checksums.items() if _has_checksum(out_dir / name, sha)]
    sources = dict.fromkeys(present, "already present")
    missing = {name: sha for name, sha in checksums.items() if name not in sources}
    if missing and local_dir is not None:
        return sources | _copy_local(Path(local_dir), out_dir, missing)
    failures: list[str] = []
    network: dict[str, Any] = {"timeout": timeout, "retries": retries, "backoff": backoff}
    sources |= _fetch_from_mirrors(out_dir, missing, mirrors, failures, **network)
    missing = {name: sha for name, sha in missing.items() if name not in sources}
    if missing and use_openml:
        sources |= _fetch_from_openml(out_dir, missing, failures, **network)
        missing = {name: sha for name, sha in missing.items() if name not in sources}
    if missing:
        raise FetchError(_failure_message(out_dir, list(missing), list(checksums), failures))
    return sources


def _copy_local(local_dir: Path, out_dir: Path, missing: Mapping[str, str]) -> dict[str, str]:
    """Copy the missing files from MNIST_DIR, verifying all of them before writing any."""
    if not local_dir.is_dir():
        fix = "point it at the four MNIST files or unset it"
        raise FetchError(f"MNIST_DIR={local_dir} is not a folder; {fix}")
    contents = {name: _read_local(local_dir, name, sha) for name, sha in missing.items()}
    for name, content in contents.items():
        _write(out_dir / name, content)
    return {name: f"MNIST_DIR {local_dir}" for name in contents}


def _read_local(local_dir: Path, name: str, sha: str) -> bytes:
    """Return the verified decompressed content of NAME.gz or NAME in `local_dir`."""
    # Whatever stands at either name is read (a FIFO or a folder is named as such, not "missing").
    path = next((p for p in (local_dir / f"{name}.gz", local_dir / name) if os.path.lexists(p)), None)
    if path is None:
        raise FetchError(f"MNIST_DIR={local_dir} has neither {name}.gz nor {name}; add it or unset MNIST_DIR")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:  # checked before reading: the file could be a 100 GB sparse one
            raise SourceError(f"is {size} bytes, more than any MNIST file ({MAX_FILE_BYTES} at most)")
        return _verified(read_bytes(path, MAX_FILE_BYTES), sha)
    except OSError as error:
        raise FetchError(f"MNIST_DIR file {path} is unreadable: {error.strerror or error}") from None
    except (SourceError, UnreadableFileError) as error:
        fix = "replace it with the original or unset MNIST_DIR"
        raise FetchError(f"MNIST_DIR file {path}: {error}; {fix}") from None


def _fetch_from_mirrors(
    out_dir: Path, missing: Mapping[str, str], mirrors: Sequence[str], failures: list[str], **network: Any
) -> dict[str, str]:
    """Try each missing file on each mirror in turn; a mirror found unreachable is not asked again."""
    sources: dict[str, str] = {}
    unreachable: set[str] = set()
    for name, sha in missing.items():
        for mirror in (m for m in mirrors if m not in unreachable):
            url = f"{mirror}{name}.gz"
            try:
                content = _verified(download(url, max_bytes=MAX_FILE_BYTES, label=name, **network), sha)
            except SourceError as error:
                skip_note = "; not asked for the other files" if error.unreachable else ""
                failures.append(f"{url}: {error}{skip_note}")
                if error.unreachable:
                    unreachable.add(mirror)
                continue
            _write(out_dir / name, content)
            sources[name] = url
            break
    return sources


def _fetch_from_openml(
    out_dir: Path, missing: Mapping[str, str], failures: list[str], **network: Any
) -> dict[str, str]:
    """Rebuild the missing files from OpenML, keeping only those whose checksum matches."""
    try:
        files = load_openml_mnist(**network)
    except SourceError as error:
        failures.append(f"{OPENML}: {error}")
        return {}
    sources: dict[str, str] = {}
    for name, sha in missing.items():
        try:
            content = _verified(files.get(name, b""), sha)
        except SourceError as error:
            failures.append(f"{OPENML} ({name}): {error}; refused")
            continue
        _write(out_dir / name, content)
        sources[name] = OPENML
    return sources


def _verified(data: bytes, sha: str) -> bytes:
    """Return `data`, gunzipped if it is gzip, after checking the content's SHA-256 against `sha`."""
    content = _gunzip(data) if data[:2] == b"\x1f\x8b" else data
    actual = hashlib.sha256(content).hexdigest()
    if actual != sha:
        raise SourceError(f"SHA-256 of the decompressed content is {actual}, expected {sha}")
    return content


def _gunzip(data: bytes) -> bytes:
    """Decompress every gzip member of `data`, refusing output beyond MAX_FILE_BYTES; zero bytes
    after a member are padding (as gzip -d takes them).

    zlib copies what follows a member's end into `unused_data`, so each member is handed its input
    in pieces doubling from GZIP_PIECE bytes, not the whole rest: the copies then stay within about
    twice the member's length, and many tiny members cost linear time, not quadratic.
    """
    view, output, start = memoryview(data), bytearray(), 0
    try:
        while start < len(data) and not (data[start] == 0 and data.count(0, start) == len(data) - start):
            decompressor, piece = zlib.decompressobj(wbits=31), GZIP_PIECE  # 31: gzip header and trailer
            while not decompressor.eof:
                if start == len(data):
                    raise SourceError("gzip stream is cut short")
                chunk = view[start : start + piece]
                output += decompressor.decompress(chunk, MAX_FILE_BYTES + 1 - len(output))
                if len(output) > MAX_FILE_BYTES:
                    raise SourceError(f"decompresses to more than {MAX_FILE_BYTES} bytes")
                start, piece = start + len(chunk) - len(decompressor.unused_data), 2 * piece
    except zlib.error as error:
        raise SourceError(f"not valid gzip ({error})") from None
    return bytes(output)


def _has_checksum(path: Path, sha: str) -> bool:
    """True if `path` is a file whose SHA-256 is `sha` (a stale or corrupt file gets replaced)."""
    try:
        with open_regular(path, MAX_FILE_BYTES) as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest() == sha
    except (OSError, UnreadableFileError):
        return False


def _write(path: Path, content: bytes) -> None:
    """Write verified content atomically, so a crash never leaves a partial file."""
    with open_output(path, "wb") as handle:
        handle.write(content)


def _failure_message(out_dir: Path, missing: list[str], names: list[str], failures: list[str]) -> str:
    """One message listing every source tried and why it failed, then the offline fix."""
    tried = "\n".join(f"  - {failure}" for failure in failures) or "  - (no sources configured)"
    by_hand = ", ".join(f"{name}.gz" for name in names)
    return (
        f"could not fetch {', '.join(missing)} into {out_dir}; every source failed:\n{tried}\n"
        f"To work offline, download {by_hand} by hand (from any mirror above) into one folder "
        "and run `MNIST_DIR=/path/to/folder make repro`."
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.fetch", description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="folder for the decompressed IDX files, e.g. data/raw")
    args = parser.parse_args(argv)
    sources = fetch_mnist(args.out_dir, local_dir=os.environ.get("MNIST_DIR") or None)
    n_train, n_test = (len(load_mnist_split(args.out_dir, split)[1]) for split in ("train", "t10k"))
    n_kept = sum(source == "already present" for source in sources.values())
    print(
        f"fetch: {args.out_dir} holds {n_train} train and {n_test} t10k images, SHA-256 verified "
        f"({len(sources) - n_kept} fetched, {n_kept} already present)"
    )


if __name__ == "__main__":
    # Each verified file is kept as soon as it is written (a rerun then skips it), and main()
    # reads them back, so fetch's outputs are not held back until the end like other stages'.
    run_stage(main, "fetch", all_or_nothing=False)
