"""Atomic writes: all or nothing, with ordinary file permissions."""

from __future__ import annotations

import os

import pytest

from glimpse_env.atomic import atomic_path


def test_success_replaces_the_file_with_umask_permissions(tmp_path):
    target = tmp_path / "out" / "file.bin"
    old = os.umask(0o022)
    try:
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"new")
            assert not target.exists()  # nothing visible until the rename
    finally:
        os.umask(old)
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o644
    assert os.listdir(target.parent) == ["file.bin"]


def test_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "file.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["file.bin"]
