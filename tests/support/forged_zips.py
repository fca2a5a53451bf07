"""Hand-built zip archives for the model-file tests: members whose declared sizes lie, deflate
bombs, thousands of members, ZIP64 end records. zipfile writes only honest archives, so these
are laid out byte by byte (PKWARE APPNOTE: local headers, central directory, end record).
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass

import numpy as np

LOCAL_HEADER = struct.Struct("<4s5H3L2H")
CENTRAL_ENTRY = struct.Struct("<4s6H3L5H2L")
END_RECORD = struct.Struct("<4s4H2LH")
ZIP64_END_RECORD = struct.Struct("<4sQ2H2L4Q")
ZIP64_LOCATOR = struct.Struct("<4sLQL")
STORED, DEFLATED = 0, 8
DOS_DATE = (1 << 5) | 1  # 1980-01-01


@dataclass
class Member:
    """One archive member: `payload` is what the file holds (raw deflate data when DEFLATED);
    `file_size` and `crc` are what the directory declares, honest unless a test says otherwise."""

    name: str
    payload: bytes
    method: int = STORED
    file_size: int | None = None
    crc: int | None = None

    @classmethod
    def stored(cls, name: str, data: bytes) -> Member:
        return cls(name, data, STORED, len(data), zlib.crc32(data))


def archive(members: list[Member], n_declared: int | None = None, zip64_locator: bool = False) -> bytes:
    """The bytes of a zip holding `members`; `n_declared` overrides the end record's member count."""
    body, directory = bytearray(), bytearray()
    for member in members:
        name = member.name.encode()
        file_size = len(member.payload) if member.file_size is None else member.file_size
        crc = zlib.crc32(member.payload) if member.crc is None else member.crc
        fields = (member.method, 0, DOS_DATE, crc, len(member.payload), file_size, len(name))
        directory += CENTRAL_ENTRY.pack(b"PK\x01\x02", 20, 20, 0, *fields, 0, 0, 0, 0, 0, len(body)) + name
        body += LOCAL_HEADER.pack(b"PK\x03\x04", 20, 0, *fields, 0) + name + member.payload
    count = len(members) if n_declared is None else n_declared
    tail = b""
    if zip64_locator:
        record_offset = len(body) + len(directory)
        tail = ZIP64_END_RECORD.pack(
            b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(directory), len(body)
        ) + ZIP64_LOCATOR.pack(b"PK\x06\x07", 0, record_offset, 1)
    end = END_RECORD.pack(b"PK\x05\x06", 0, 0, count, count, len(directory), len(body), 0)
    return bytes(body + directory + tail + end)


def npy_header(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    """A valid .npy version 1.0 header for an array of `shape` (padded to 64 bytes)."""
    text = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode("latin1")
    padding = -(10 + len(text) + 1) % 64
    text += b" " * padding + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text


def deflated(prefix: bytes, n_fill: int, fill: bytes = b"\x00") -> Member:
    """A member's payload and CRC: raw deflate data that inflates to `prefix` then `n_fill` copies
    of the byte `fill`, built in well under a second for gigabytes: after a full flush the
    compressor's state resets, so every MiB of fill compresses to the same block, which is
    repeated instead of recomputed. Name and declared size are the caller's to set."""
    mib = fill * (1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = compressor.compress(prefix) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(mib) + compressor.flush(zlib.Z_FULL_FLUSH)
    end = compressor.compress(fill * (n_fill % len(mib))) + compressor.flush()
    crc = zlib.crc32(prefix)
    for _ in range(n_fill // len(mib)):
        crc = zlib.crc32(mib, crc)
    crc = zlib.crc32(fill * (n_fill % len(mib)), crc)
    payload = start + block * (n_fill // len(mib)) + end
    return Member("", payload, DEFLATED, len(prefix) + n_fill, crc)


def header_member(layer_sizes: list[int], dtype: str = "float32") -> Member:
    """The `header` member of a model file with these layer sizes (a uint8 .npy array)."""
    header = {
        "format": "numpy-mlp",
        "format_version": 1,
        "layer_sizes": layer_sizes,
        "activation": "relu",
        "init": "he",
        "dropout": 0.0,
        "dtype": dtype,
        "metadata": {},
    }
    text = json.dumps(header).encode()
    return Member.stored("header.npy", npy_header((len(text),), "|u1") + text)


def array_member(name: str, array: np.ndarray) -> Member:
    """An honest .npy member holding `array`."""
    return Member.stored(f"{name}.npy", npy_header(array.shape, array.dtype.str) + array.tobytes())
