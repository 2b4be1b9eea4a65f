"""What makes ``--resume`` of a sweep safe: Ray unpickles its experiment state, so the files are
checked against the digests this machine recorded when it wrote them.

Ray Tune's ``Tuner.restore`` unpickles ``tuner.pkl``, the searcher's state and the trials kept in
``experiment_state-*.json``: a file planted in a shared ``--storage`` would run its code. After
every sweep (also one stopped by Ctrl-C) the driver records the sha256 of every file under
``<storage>/<name>/ray`` in a manifest **outside** the storage, in the user's own cache
(``$GLIMPSE_ENV_SWEEP_MANIFESTS``, default ``~/.cache/glimpse_env/sweep-manifests``). A resume
reads nothing until every file there is one the manifest knows, with the same digest; otherwise
it refuses with one line, and nothing was run.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from glimpse_env.atomic import write_json_atomic

#: Environment variable naming the directory of the manifests.
MANIFESTS_ENV_VAR = "GLIMPSE_ENV_SWEEP_MANIFESTS"


class UntrustedSweepError(ValueError):
    """A sweep's Ray state is not what this machine wrote (so it is not unpickled)."""


def manifests_dir() -> Path:
    value = os.environ.get(MANIFESTS_ENV_VAR)
    if value:
        return Path(value)
    return (
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        / "glimpse_env"
        / ("sweep-manifests")
    )


def manifest_path(state_dir: Path) -> Path:
    """The manifest of the Ray state directory ``state_dir`` (named by its absolute path)."""
    key = hashlib.sha256(str(Path(state_dir).resolve()).encode()).hexdigest()[:32]
    return manifests_dir() / f"{key}.json"


def _digests(state_dir: Path) -> dict[str, str]:
    digests = {}
    for path in sorted(p for p in Path(state_dir).rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        digests[str(path.relative_to(state_dir))] = digest.hexdigest()
    return digests


def record(state_dir: Path) -> Path:
    """Write the manifest of every file under ``state_dir``; returns its path."""
    return write_json_atomic(
        manifest_path(state_dir),
        {"state_dir": str(Path(state_dir).resolve()), "files": _digests(state_dir)},
    )


def verify(state_dir: Path) -> None:
    """Raise :class:`UntrustedSweepError` unless every file under ``state_dir`` is in its
    manifest with the same sha256 (files the manifest lists that are gone do no harm)."""
    path = manifest_path(state_dir)
    if not path.is_file():
        raise UntrustedSweepError(
            f"refusing to resume {state_dir}: this machine has no record of writing it ({path} "
            f"is missing; set {MANIFESTS_ENV_VAR} to the directory that holds it); Ray would "
            "unpickle its files, so nothing in them was run"
        )
    known = json.loads(path.read_text()).get("files", {})
    for name, digest in _digests(state_dir).items():
        if known.get(name) != digest:
            change = "was added" if name not in known else "changed"
            raise UntrustedSweepError(
                f"refusing to resume {state_dir}: {name} {change} since this machine's sweep "
                "wrote it; Ray would unpickle it, so nothing in it was run"
            )
