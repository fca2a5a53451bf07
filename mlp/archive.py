"""Reading an untrusted .npz (a model file, a prepared split) without letting it size our memory.

A zip states its own sizes: its end record gives the number of members and the length of
the central directory, which zipfile parses whole into one object per member; each member's
directory entry gives its uncompressed size. `open_archive` bounds the file and its end
record before zipfile parses anything, and `read_member` reads one member in small chunks
within a byte limit, so a member that inflates beyond it (a deflate bomb) is stopped there.
`NpzReader` reads named arrays on top: each within the caller's dtypes and shape bound, from
the .npy header (never np.load, never a pickle). Every error is ArchiveError (a ValueError);
callers add the file's name and what to do.
"""

from __future__ import annotations

import io
import math
import os
import struct
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from mlp.reading import UnreadableFileError, open_regular

END_RECORD = struct.Struct("<4s4H2LH")  # signature, disks, entries here, entries, size, offset, comment
END_SIGNATURE = b"PK\x05\x06"
ZIP64_LOCATOR = struct.Struct("<4sLQL")
ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
COMMENT_SEARCH = 1 << 16  # how far back zipfile looks for an end record behind a comment
READ_CHUNK = 1 << 20
NPY_HEADER_BYTES = 256  # at most, per array (NumPy pads its .npy header to 64 or 128 bytes)
HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
# What a damaged archive makes zipfile or NumPy's .npy header parser raise: truncation, a bad CRC,
# and bits flipped into "unsupported compression" (NotImplementedError) or "encrypted" (RuntimeError).
READ_ERRORS = (
    OSError,
    ValueError,
    EOFError,
    KeyError,
    struct.error,
    zlib.error,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    NotImplementedError,
    RuntimeError,
)


class ArchiveError(ValueError):
    """A zip archive whose declared shape or contents exceed what the reader accepts."""


def open_archive(
    path: Path, max_file_bytes: int, max_members: int, max_directory_bytes: int
) -> zipfile.ZipFile:
    """zipfile.ZipFile(path), after checking that it is a regular file within the size limit and
    that its end record's member count and central-directory size (found the way zipfile finds
    them) are too, so that a forged directory cannot make zipfile build millions of objects.

    ZIP64 end records are refused: zipfile writes them only past 65535 members or 2 GiB.
    """
    try:
        handle = open_regular(path, max_file_bytes)  # not a FIFO, which would block, nor /dev/zero
    except UnreadableFileError as error:
        raise ArchiveError(str(error)) from None
    try:
        size = handle.seek(0, os.SEEK_END)
        tail_size = min(size, ZIP64_LOCATOR.size + COMMENT_SEARCH + END_RECORD.size)
        handle.seek(size - tail_size)
        tail = handle.read(tail_size)
        start = _end_record_start(tail)
        if start is not None:  # else not a zip: let zipfile say so in its own words
            _check_end_record(tail, start, max_members, max_directory_bytes)
        return _OwnZipFile(handle)
    except BaseException:
        handle.close()
        raise


def _check_end_record(tail: bytes, start: int, max_members: int, max_directory_bytes: int) -> None:
    _, _, _, _, n_members, directory_bytes, _, _ = END_RECORD.unpack_from(tail, start)
    locator = start - ZIP64_LOCATOR.size
    if locator >= 0 and tail[locator : locator + 4] == ZIP64_LOCATOR_SIGNATURE:
        raise ArchiveError("has a ZIP64 end record, which no file within the size limits needs")
    if n_members > max_members or directory_bytes > max_directory_bytes:
        raise ArchiveError(
            f"declares {n_members} members in a {directory_bytes}-byte directory; "
            f"at most {max_members} members and {max_directory_bytes} bytes are accepted"
        )


class _OwnZipFile(zipfile.ZipFile):
    """A ZipFile that closes the file it reads when it closes (zipfile leaves a file it is given open)."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        super().__init__(handle)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.handle.close()


def _end_record_start(tail: bytes) -> int | None:
    """Where the end record starts in the file's last bytes, chosen as zipfile chooses it."""
    last = len(tail) - END_RECORD.size
    if last >= 0 and tail[last : last + 4] == END_SIGNATURE and tail[-2:] == b"\x00\x00":
        return last  # no archive comment
    start = tail.rfind(END_SIGNATURE)
    return start if 0 <= start <= last else None


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytearray:
    """The uncompressed bytes of one member, refused (before reading on) past `limit` bytes."""
    if info.file_size > limit:
        raise ArchiveError(
            f"member {info.filename} declares {info.file_size} bytes uncompressed, over its limit of {limit}"
        )
    data = bytearray()
    with archive.open(info) as member:  # small reads: a forged size in the zip never sizes a buffer
        while chunk := member.read(READ_CHUNK):
            data += chunk
            if len(data) > limit:
                raise ArchiveError(f"member {info.filename} inflates past its limit of {limit} bytes")
    return data


class NpzReader:
    """An .npz opened for bounded reading: `with NpzReader(path, "a model file", ...) as npz`, then
    `npz.names` and `npz.read(name, dtypes, max_shape)`.

    At most `max_bytes` are inflated in all (the members' declared sizes are checked against it
    first), each array within what its bound allows.
    """

    def __init__(self, path: Path, kind: str, max_bytes: int, max_members: int) -> None:
        self.kind, self.budget = kind, max_bytes
        max_file = max_bytes + NPY_HEADER_BYTES * max_members + (1 << 20)  # room for zip headers
        self.archive = _readable(kind, open_archive, path, max_file, max_members, 1024 * max_members)
        infos = self.archive.infolist()
        declared = sum(info.file_size for info in infos)
        if declared > max_bytes:
            self.archive.close()
            raise ArchiveError(
                f"its {len(infos)} members declare {declared} bytes ({declared / (1 << 30):.1f} GiB) "
                f"uncompressed in total, over the {max_bytes} bytes {kind} may hold; "
                "refused before reading them"
            )
        self.members = {info.filename.removesuffix(".npy"): info for info in infos}
        self.names = set(self.members)

    def __enter__(self) -> NpzReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.archive.close()

    def read(self, name: str, dtypes: Sequence[npt.DTypeLike], max_shape: Sequence[int]) -> npt.NDArray[Any]:
        """Array `name`, refused unless its dtype is one of `dtypes` and its shape has as many
        dimensions as `max_shape`, none longer; only that many bytes are ever inflated."""
        if name not in self.members:
            raise ArchiveError(f"has no array {name}")
        accepted = [np.dtype(dtype) for dtype in dtypes]
        bound = math.prod(max_shape) * max(dtype.itemsize for dtype in accepted) + NPY_HEADER_BYTES
        data = _readable(self.kind, read_member, self.archive, self.members[name], min(bound, self.budget))
        self.budget -= len(data)
        stream = io.BytesIO(data)
        version = _readable(self.kind, np.lib.format.read_magic, stream)
        if version not in HEADER_READERS:
            raise ArchiveError(f"array {name} uses .npy format version {version}, expected 1.0 or 2.0")
        shape, fortran_order, dtype = _readable(self.kind, HEADER_READERS[version], stream)
        outside = len(shape) != len(max_shape) or any(
            not 0 <= n <= m for n, m in zip(shape, max_shape, strict=False)
        )
        if dtype not in accepted or outside:
            raise ArchiveError(
                f"array {name} has shape {shape} and dtype {dtype}; expected "
                f"{' or '.join(map(str, accepted))} of at most {tuple(max_shape)}"
            )
        n_bytes, n_present = math.prod(shape) * dtype.itemsize, len(data) - stream.tell()
        if n_bytes != n_present:
            raise ArchiveError(f"array {name} declares shape {shape} ({n_bytes} bytes) but holds {n_present}")
        array = np.frombuffer(data, dtype=dtype, offset=stream.tell())  # writable: data is a bytearray
        return array.reshape(shape, order="F" if fortran_order else "C")


def _readable(kind: str, function: Any, *args: Any) -> Any:
    """function(*args), with what a damaged file makes zipfile or NumPy raise as ArchiveError."""
    try:
        return function(*args)
    except (ArchiveError, FileNotFoundError):
        raise
    except READ_ERRORS as error:
        raise ArchiveError(
            f"not a readable {kind.removeprefix('a ')} ({type(error).__name__}: {error})"
        ) from None
