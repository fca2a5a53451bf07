"""Opening an untrusted zip archive (an .npz model file) without letting it size our memory.

A zip states its own sizes: its end record gives the number of members and the length of
the central directory, which zipfile parses whole into one object per member; each member's
directory entry gives its uncompressed size. `open_archive` bounds the file and its end
record before zipfile parses anything, and `read_member` reads one member in small chunks
within a byte limit, so a member that inflates beyond it (a deflate bomb) is stopped there.
Errors are ArchiveError; persistence.py turns them into ModelFileError naming the file.
"""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path

END_RECORD = struct.Struct("<4s4H2LH")  # signature, disks, entries here, entries, size, offset, comment
END_SIGNATURE = b"PK\x05\x06"
ZIP64_LOCATOR = struct.Struct("<4sLQL")
ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
COMMENT_SEARCH = 1 << 16  # how far back zipfile looks for an end record behind a comment
READ_CHUNK = 1 << 20


class ArchiveError(ValueError):
    """A zip archive whose declared shape or contents exceed what the reader accepts."""


def open_archive(
    path: Path, max_file_bytes: int, max_members: int, max_directory_bytes: int
) -> zipfile.ZipFile:
    """zipfile.ZipFile(path), after checking the file size and the end record's member count
    and central-directory size (found the way zipfile finds them), so that a forged directory
    cannot make zipfile build millions of objects.

    ZIP64 end records are refused: zipfile writes them only past 65535 members or 2 GiB.
    """
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size > max_file_bytes:
            raise ArchiveError(f"is {size} bytes, over the {max_file_bytes}-byte limit for this kind of file")
        tail_size = min(size, ZIP64_LOCATOR.size + COMMENT_SEARCH + END_RECORD.size)
        handle.seek(size - tail_size)
        tail = handle.read(tail_size)
    start = _end_record_start(tail)
    if start is None:
        return zipfile.ZipFile(path)  # not a zip: let zipfile say so in its own words
    _, _, _, _, n_members, directory_bytes, _, _ = END_RECORD.unpack_from(tail, start)
    locator = start - ZIP64_LOCATOR.size
    if locator >= 0 and tail[locator : locator + 4] == ZIP64_LOCATOR_SIGNATURE:
        raise ArchiveError("has a ZIP64 end record, which no file within the size limits needs")
    if n_members > max_members or directory_bytes > max_directory_bytes:
        raise ArchiveError(
            f"declares {n_members} members in a {directory_bytes}-byte directory; "
            f"at most {max_members} members and {max_directory_bytes} bytes are accepted"
        )
    return zipfile.ZipFile(path)


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
