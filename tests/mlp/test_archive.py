"""Tests of the untrusted-zip guards: end records bounded before zipfile parses, members read in limits."""

import re
import zipfile

import numpy as np
import pytest

from mlp.archive import ArchiveError, NpzReader, open_archive, read_member
from tests.support import forged_zips

LIMITS = {"max_file_bytes": 1 << 20, "max_members": 8, "max_directory_bytes": 8 * 100}


def _members(n: int) -> list[forged_zips.Member]:
    return [forged_zips.Member.stored(f"m{i}.npy", bytes([i % 256]) * 10) for i in range(n)]


@pytest.mark.parametrize("comment", [b"", b"made by hand", b"PK\x05 almost an end record" * 100])
def test_honest_archives_open_whatever_their_comment(tmp_path, comment):
    # The end record is found where zipfile finds it, also behind an archive comment that mimics one.
    path = tmp_path / "honest.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(3):
            archive.writestr(f"m{i}.npy", bytes(10))
        archive.comment = comment
    with open_archive(path, **LIMITS) as archive:
        assert [read_member(archive, info, 10) for info in archive.infolist()] == [bytearray(10)] * 3


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (forged_zips.archive(_members(9)), r"declares 9 members in a \d+-byte directory; at most 8 members"),
        (
            forged_zips.archive(_members(20), n_declared=3),
            r"declares 3 members in a \d{4}-byte directory; at most 8 members and 800 bytes",
        ),
        (forged_zips.archive(_members(2), zip64_locator=True), "has a ZIP64 end record"),
        (bytes(1 << 20) + forged_zips.archive(_members(2)), "bytes, over the 1048576-byte limit"),
    ],
    ids=["too_many_members", "directory_longer_than_its_count", "zip64", "file_too_large"],
)
def test_archives_beyond_the_limits_are_refused_before_zipfile_parses_them(tmp_path, data, message):
    # Too many members, a directory longer than its declared count, a ZIP64 end record or a file
    # over the size limit raise ArchiveError (a ValueError) before zipfile builds any member object.
    path = tmp_path / "forged.zip"
    path.write_bytes(data)
    with pytest.raises(ArchiveError, match=message):
        open_archive(path, **LIMITS)


def test_a_file_that_is_no_zip_is_left_to_zipfile(tmp_path):
    # Without an end record there is nothing to bound; zipfile's own error says what is wrong.
    path = tmp_path / "garbage.zip"
    path.write_bytes(b"not a zip at all" * 100)
    with pytest.raises(zipfile.BadZipFile):
        open_archive(path, **LIMITS)


def test_a_member_over_its_limit_is_refused_before_it_is_read(tmp_path):
    # read_member compares the declared size with the limit first, so a bomb is never inflated.
    bomb = forged_zips.deflated(b"", 64 << 20)
    bomb.name = "bomb.npy"
    path = tmp_path / "bomb.zip"
    path.write_bytes(forged_zips.archive([bomb]))
    with open_archive(path, **LIMITS) as archive:
        with pytest.raises(ArchiveError, match=r"member bomb.npy declares 67108864 bytes uncompressed, over"):
            read_member(archive, archive.infolist()[0], 1 << 20)
        assert read_member(archive, archive.infolist()[0], 64 << 20) == bytearray(64 << 20)


def _npz(tmp_path, **arrays):
    path = tmp_path / "arrays.npz"
    np.savez(path, **arrays)
    return path


def test_npz_reader_gives_the_named_arrays_within_their_bounds(tmp_path):
    # Any caller names its members with dtypes and a shape bound (model files, prepared splits, ...).
    path = _npz(tmp_path, mean=np.arange(4, dtype=np.float32), y=np.ones(3, np.uint8))
    with NpzReader(path, "a test file", 1 << 20, 4) as npz:
        assert npz.names == {"mean", "y"}
        np.testing.assert_array_equal(npz.read("mean", [np.float32], [784]), np.arange(4))
        assert npz.read("y", [np.uint8, np.int64], [3]).dtype == np.uint8


@pytest.mark.parametrize(
    ("name", "dtypes", "bound", "message"),
    [
        ("absent", [np.float32], [4], "has no array absent"),
        ("mean", [np.float64], [4], "array mean has shape (4,) and dtype float32; expected float64"),
        ("mean", [np.float32], [3], "expected float32 of at most (3,)"),
        ("mean", [np.float32], [2, 2], "expected float32 of at most (2, 2)"),
    ],
)
def test_npz_reader_refuses_what_the_caller_did_not_ask_for(tmp_path, name, dtypes, bound, message):
    path = _npz(tmp_path, mean=np.arange(4, dtype=np.float32))
    with (
        NpzReader(path, "a test file", 1 << 20, 4) as npz,
        pytest.raises(ArchiveError, match=re.escape(message)),
    ):
        npz.read(name, dtypes, bound)


def test_npz_reader_refuses_a_total_over_its_budget_before_reading(tmp_path):
    path = _npz(tmp_path, big=np.zeros(1000, np.float64))
    with pytest.raises(ArchiveError, match="bytes a test file may hold; refused before reading them"):
        NpzReader(path, "a test file", 1000, 4)
