"""Publishing a file: temporary name with host and pid, synced, readable under the umask, atomic."""

from __future__ import annotations

import hashlib
import os
import socket
import stat

import pytest

from flair_qgis import files


def test_a_published_file_gets_the_umask_permissions_and_replaces_the_old_one(tmp_path):
    target = tmp_path / "manifest.json"
    target.write_text("old")
    before = os.umask(0o027)
    try:
        files.write_text(target, "new")
    finally:
        os.umask(before)
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_temporary_names_carry_the_host_and_the_process(tmp_path):
    tmp = files.temporary_file(tmp_path / "map.tif", ".tmp.tif")
    assert tmp.parent == tmp_path and tmp.name.endswith(".tmp.tif")
    assert tmp.name.startswith(f".map.tif.{files.host()}.{os.getpid()}.")
    assert "." not in files.host() and files.host().split("-")[0] == socket.gethostname().split(".")[0]


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    target = tmp_path / "a.pt"
    target.write_bytes(b"previous")
    with pytest.raises(RuntimeError):
        with files.writing(target, "wb") as f:
            f.write(b"half")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"previous" and [p.name for p in tmp_path.iterdir()] == ["a.pt"]


def test_sha256_of_reads_in_pieces(tmp_path):
    data = os.urandom(3000)
    (tmp_path / "f").write_bytes(data)
    assert files.sha256_of(tmp_path / "f", chunk=1000) == hashlib.sha256(data).hexdigest()
