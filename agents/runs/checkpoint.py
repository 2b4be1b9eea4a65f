"""Training checkpoints: one ``torch.save`` file, written atomically (temporary name, rename).

Every trainer built on :class:`agents.runs.loop.TrainingLoop` writes its checkpoints here; each
family names its own ``format`` and the keys its payload must hold (the attention agents'
:data:`FORMAT` and :data:`REQUIRED_KEYS` by default).

A checkpoint holds tensors and plain values only (the model and optimiser state dicts, the
policy-noise generator state as a uint8 tensor, the config as a dict, ...) and is read back with
``weights_only=True`` (:func:`agents.weights.safe_load`): loading one never runs code from it.
It records the sha256 of its model weights, checked on load.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from agents.weights import check_sha256, safe_load, state_dict_sha256
from glimpse_env.atomic import atomic_path

#: Keys every checkpoint holds.
REQUIRED_KEYS = ("format", "config", "update", "model", "optimizer", "scheduler", "rng")
FORMAT = "glimpse-env-agent-checkpoint-v1"


def save_checkpoint(
    path: str | os.PathLike,
    payload: dict[str, Any],
    format: str = FORMAT,
    required: tuple[str, ...] = REQUIRED_KEYS,
) -> Path:
    """Write ``payload`` (holding every key of ``required``) to ``path`` atomically as a
    checkpoint of ``format``, with the sha256 of its model weights (``model_sha256``).

    A crash or Ctrl-C while writing leaves the previous checkpoint at ``path`` intact.
    """
    missing = [key for key in required if key != "format" and key not in payload]
    if missing:
        raise ValueError(f"checkpoint payload lacks {missing}")
    record = {"format": format, **payload, "model_sha256": state_dict_sha256(payload["model"])}
    try:
        with atomic_path(path) as tmp:
            torch.save(record, tmp)
    except (OSError, RuntimeError) as error:  # torch's zip writer says "unexpected pos ..."
        raise write_error(Path(path), error) from None
    return Path(path)


#: Below this many free bytes a failed write is reported as a full disk.
_FULL_DISK_BYTES = 64 * 2**20


def write_error(path: Path, error: BaseException) -> OSError:
    """One clear ``OSError`` for a failed write of ``path`` (the previous file is intact)."""
    full = isinstance(error, OSError) and error.errno == errno.ENOSPC
    try:
        full = full or shutil.disk_usage(path.parent).free < _FULL_DISK_BYTES
    except OSError:
        pass
    reason = "no space left on device" if full else f"{type(error).__name__}: {error}"
    return OSError(
        errno.ENOSPC if full else errno.EIO,
        f"{reason} while writing {path}; the previous file there is intact",
    )


def load_checkpoint(
    path: str | os.PathLike,
    map_location: str | torch.device = "cpu",
    format: str = FORMAT,
    required: tuple[str, ...] = REQUIRED_KEYS,
    what: str = "checkpoint",
) -> dict:
    """Read a checkpoint of ``format`` written by :func:`save_checkpoint` (safely; see the
    module docstring) and check that it holds ``required`` and that its weights match their
    sha256.

    Raises:
        FileNotFoundError: no file at ``path``.
        agents.weights.UnsafeFileError: the file would run code to load; it was not loaded.
        agents.weights.WeightsMismatchError: its weights do not match their recorded sha256.
        ValueError: the file is not a readable checkpoint of this format.
    """
    path = Path(path)
    payload = safe_load(path, what, map_location)
    if not isinstance(payload, dict) or payload.get("format") != format:
        raise ValueError(f"{path} is not a glimpse-env {what} ({format})")
    missing = [key for key in (*required, "model_sha256") if key not in payload]
    if missing:
        raise ValueError(f"checkpoint {path} lacks {missing}")
    check_sha256(payload["model"], payload["model_sha256"], str(path))
    return payload
