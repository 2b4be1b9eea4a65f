"""Atomic file writes: write to a temporary name in the target directory, then rename."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no locks
    fcntl = None  # type: ignore[assignment]


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    On any exception the temporary file is removed and ``path`` is left as it was. The file gets
    the permissions a plain ``open(path, "w")`` would give (``mkstemp`` alone makes it 0600).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(
    path: str | os.PathLike, value: object, indent: int | None = 2, sort_keys: bool = False
) -> Path:
    """Write ``value`` as JSON (one trailing newline) to ``path`` atomically; returns ``path``.

    A crash or Ctrl-C while writing leaves the previous file at ``path`` intact.
    """
    text = json.dumps(value, indent=indent, sort_keys=sort_keys) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def remove_stale_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Delete the temporary files :func:`atomic_path` left in ``directory`` when a process was
    killed mid-write (``.<name>.<random>.tmp``); returns what was removed. Call it only where
    no other process is writing (a run directory when its run starts)."""
    removed = []
    for stale in Path(directory).glob(".*.tmp"):
        if stale.is_file():
            stale.unlink(missing_ok=True)
            removed.append(stale)
    return removed


class LockedError(ValueError):
    """Another process holds the lock."""


#: The locks this process holds (resolved paths), so that taking one again is a no-op.
_HELD: set[Path] = set()


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike, what: str) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (created if needed) for the block.

    A second process asking for the same lock meanwhile gets :class:`LockedError` at once,
    naming ``what`` it was doing ("training in runs/x", "publishing 'name'"). The lock goes with
    the process, also when it is killed. The same process may take a lock it holds again (a
    command line around a trainer that locks its run): the inner block runs without a second
    lock. Without ``fcntl`` (not POSIX) nothing is locked.
    """
    path = Path(path)
    key = path.resolve()
    if key in _HELD:
        yield
        return
    try:
        handle = path.open("a")
    except OSError as error:
        raise ValueError(f"cannot create the lock {path}: {error.strerror}") from None
    with handle:
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LockedError(
                    f"another process is {what} (it holds {path}); wait for it to finish"
                ) from None
        _HELD.add(key)
        try:
            yield
        finally:
            _HELD.discard(key)
