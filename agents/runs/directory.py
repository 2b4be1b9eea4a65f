"""A run directory: its files' names, how a new one is made, and how ``--resume`` finds one.

Every trainer writes the same files (``agents.runs`` has the layout); SB3's checkpoints are its
own ``model.zip`` (:mod:`agents.sb3.baselines`), the others' ``checkpoint.pt``.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from glimpse_env.atomic import remove_stale_temporaries, write_json_atomic

CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.pt"
#: The checkpoint of the lowest validation error seen during training (model selection on valid).
BEST_FILE = "best.pt"
COMMAND_FILE = "command.txt"
#: Written into a warm-started run: the parent weights' lineage (:func:`agents.zoo.run_lineage`).
LINEAGE_FILE = "lineage.json"
#: Held by the process training in a run directory (a second ``--resume`` is refused).
RUN_LOCK = ".lock"


def new_run_dir(logdir: Path, name: str) -> Path:
    """Create and return ``logdir/<name>-<time>`` (``-2``, ``-3``... if taken): runs started in
    the same second never share a directory (the directory is claimed by ``mkdir``).

    Raises:
        ValueError: ``logdir`` is a file, or cannot be written.
    """
    if logdir.exists() and not logdir.is_dir():
        raise ValueError(f"--logdir {logdir} is a file, not a directory")
    try:
        logdir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"cannot create --logdir {logdir}: {error.strerror}") from None
    if not os.access(logdir, os.W_OK):
        raise ValueError(f"--logdir {logdir} is not writable")
    base = f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    for attempt in range(1, 1000):
        run_dir = logdir / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a new run directory {logdir / base}-N")


def remove_if_empty(directory: Path) -> None:
    """Remove ``directory`` if it is empty (a failed start leaves no empty run directory)."""
    try:
        directory.rmdir()
    except OSError:  # not empty (or already gone): keep it
        pass


def record_command(run_dir: Path, script: str, argv: Sequence[str]) -> None:
    """Append the command line to ``run_dir/command.txt`` (one line per start or resume)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / COMMAND_FILE).open("a") as f:
        f.write(shlex.join(["python", script, *argv]) + "\n")


def prepare(
    run_dir: Path, config: dict[str, Any], lineage: dict[str, Any] | None = None
) -> list[Path]:
    """Make ``run_dir`` ready to train in: remove the temporaries of a killed write, write
    ``config.json`` (and ``lineage.json`` for a warm start). Returns the removed temporaries."""
    run_dir.mkdir(parents=True, exist_ok=True)
    stale = remove_stale_temporaries(run_dir)
    write_json_atomic(run_dir / CONFIG_FILE, config)
    if lineage is not None:
        write_json_atomic(run_dir / LINEAGE_FILE, lineage)
    return stale


def resume_checkpoint(target: str | os.PathLike, checkpoint_file: str = CHECKPOINT_FILE) -> Path:
    """The checkpoint ``--resume TARGET`` continues: ``TARGET/<checkpoint_file>`` for a run
    directory. A checkpoint file's path is still accepted, with a ``FutureWarning`` (the
    category Python shows end users by default).

    Raises:
        FileNotFoundError: nothing to resume there.
    """
    path = Path(target)
    if path.is_dir():
        checkpoint = path / checkpoint_file
        if not checkpoint.is_file():
            raise FileNotFoundError(f"--resume {path}: the run has no {checkpoint_file} yet")
        return checkpoint
    if path.is_file():
        warnings.warn(
            f"--resume takes the run directory ({path.parent}); a checkpoint path is accepted "
            "until the next version",
            FutureWarning,
            stacklevel=2,
        )
        return path
    raise FileNotFoundError(f"--resume {path}: no such run directory")


@contextlib.contextmanager
def one_line_warnings() -> Iterator[None]:
    """Within the block, warnings print as one ``warning: ...`` line (a command line's
    deprecation notices), not Python's two lines with the source line."""
    previous = warnings.formatwarning
    warnings.formatwarning = lambda message, *args, **kwargs: f"warning: {message}\n"
    try:
        yield
    finally:
        warnings.formatwarning = previous
