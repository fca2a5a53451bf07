"""Tests of atomic_open: the target is either the old file or the complete new one, never partial."""

import os
import stat

import pytest

from mlp.atomic import atomic_open


def test_successful_write_replaces_target_and_leaves_no_temporary(tmp_path):
    # On success the target holds exactly the new content and the folder holds nothing else.
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with atomic_open(target, "wb") as handle:
        handle.write(b"new content")
    assert target.read_bytes() == b"new content"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_text_mode_passes_keyword_arguments(tmp_path):
    # Text mode and open() keywords such as encoding reach the underlying file.
    target = tmp_path / "out.txt"
    with atomic_open(target, "w", encoding="utf-8") as handle:
        handle.write("café\n")
    assert target.read_bytes() == "café\n".encode()


def test_target_is_untouched_while_writing(tmp_path):
    # Until the block ends, readers see the old file; the new bytes go to a temporary beside it.
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with atomic_open(target, "wb") as handle:
        handle.write(b"half")
        handle.flush()
        assert target.read_bytes() == b"old"
        others = [name for name in os.listdir(tmp_path) if name != "out.bin"]
        assert len(others) == 1 and (tmp_path / others[0]).read_bytes() == b"half"
    assert target.read_bytes() == b"half"


@pytest.mark.parametrize(
    "error", [ValueError("boom"), KeyboardInterrupt(), OSError(28, "No space left on device")]
)
@pytest.mark.parametrize("existed", [True, False], ids=["old_file", "no_file"])
def test_exception_inside_block_keeps_old_content_and_removes_temporary(tmp_path, error, existed):
    # A failure mid-write (bug, Ctrl-C, full disk) leaves the old file, or none, and no temporary.
    target = tmp_path / "out.bin"
    if existed:
        target.write_bytes(b"old")
    with pytest.raises(type(error)) as raised, atomic_open(target, "wb") as handle:
        handle.write(b"partial")
        raise error
    if isinstance(error, OSError):
        assert str(target) in str(raised.value)
    assert os.listdir(tmp_path) == (["out.bin"] if existed else [])
    if existed:
        assert target.read_bytes() == b"old"


def _missing_folder(tmp_path):
    return tmp_path / "missing" / "out.bin"


def _file_as_folder(tmp_path):
    (tmp_path / "plain_file").write_bytes(b"")
    return tmp_path / "plain_file" / "out.bin"


@pytest.mark.parametrize("make_target", [_missing_folder, _file_as_folder], ids=["missing", "not_a_folder"])
def test_unusable_folder_raises_oserror_naming_the_path(tmp_path, make_target):
    # Writing where no file can be created raises OSError whose message names the target.
    target = make_target(tmp_path)
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(OSError) as raised, atomic_open(target, "wb") as handle:
        handle.write(b"never written")
    assert str(target) in str(raised.value)
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write to read-only folders"
)
def test_read_only_folder_raises_oserror_naming_the_path(tmp_path):
    # A folder without write permission raises OSError naming the target and leaves it empty.
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o500)
    target = folder / "out.bin"
    try:
        with pytest.raises(OSError) as raised, atomic_open(target, "wb") as handle:
            handle.write(b"never written")
        assert str(target) in str(raised.value)
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o700)


def test_output_gets_the_permissions_open_would_give(tmp_path):
    # The renamed file is not left owner-only (mkstemp's 0600): it matches a plain open() under the umask.
    with open(tmp_path / "plain.bin", "wb") as handle:
        handle.write(b"x")
    with atomic_open(tmp_path / "atomic.bin", "wb") as handle:
        handle.write(b"x")
    plain_mode = (tmp_path / "plain.bin").stat().st_mode & 0o777
    assert (tmp_path / "atomic.bin").stat().st_mode & 0o777 == plain_mode


def test_publish_decides_when_the_finished_file_takes_its_place(tmp_path):
    # A caller's publish receives the complete temporary file and the target, and renames it itself.
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    finished = []
    with atomic_open(
        target, "wb", publish=lambda temporary, path: finished.append((temporary, path))
    ) as handle:
        handle.write(b"new")
    [(temporary, path)] = finished
    assert path == target and target.read_bytes() == b"old"
    assert open(temporary, "rb").read() == b"new"
    os.replace(temporary, path)
    assert target.read_bytes() == b"new"


@pytest.mark.parametrize("kind", ["fifo", "folder", "link to /dev/null"])
def test_a_target_that_is_no_regular_file_is_refused_and_kept(tmp_path, kind):
    # `/dev/full` as an output used to be replaced by a regular file, with success reported:
    # a device, a FIFO or a folder at the target is refused before anything is written.
    target = tmp_path / "out.bin"
    if kind == "fifo":
        os.mkfifo(target)
    if kind == "folder":
        target.mkdir()
    if kind == "link to /dev/null":
        target.symlink_to("/dev/null")
    with pytest.raises(OSError, match=f"cannot write {target}: it is a .*, not a regular file, and writing"):
        with atomic_open(target, "wb") as handle:
            handle.write(b"new")
    kept = os.lstat(target).st_mode
    assert not stat.S_ISREG(kept) and os.listdir(tmp_path) == ["out.bin"]


def test_a_temporary_file_removed_by_another_process_is_named_as_such(tmp_path):
    # Another run of the same output removes the temporaries it finds; the rename then fails with
    # ENOENT, which is not "its folder does not exist".
    target = tmp_path / "out.bin"

    def removed_first(temporary: str, path) -> None:
        os.remove(temporary)
        os.replace(temporary, path)

    with pytest.raises(OSError) as raised:
        with atomic_open(target, "wb", publish=removed_first) as handle:
            handle.write(b"new")
    assert str(raised.value).startswith(f"cannot write {target}: its temporary file .out.bin.")
    assert "was removed by another process before it was renamed into place" in str(raised.value)
    assert raised.value.errno is None  # so the stage runner adds no errno-based fix of its own
