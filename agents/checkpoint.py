"""Training checkpoints: one ``torch.save`` file, written atomically (temporary name, rename)."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from glimpse_env.atomic import atomic_path

#: Keys every checkpoint holds.
REQUIRED_KEYS = ("format", "config", "update", "model", "optimizer", "scheduler", "rng")
FORMAT = "glimpse-env-agent-checkpoint-v1"


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (see :data:`REQUIRED_KEYS`) to ``path`` atomically.

    A crash or Ctrl-C while writing leaves the previous checkpoint at ``path`` intact.
    """
    missing = [key for key in REQUIRED_KEYS if key != "format" and key not in payload]
    if missing:
        raise ValueError(f"checkpoint payload lacks {missing}")
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **payload}, tmp)
    return Path(path)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not a readable checkpoint of this format.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        # weights_only=False: the payload holds RNG states and plain config dicts we wrote.
        payload = torch.load(path, map_location=map_location, weights_only=False)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as error:
        raise ValueError(
            f"{path} is not a readable checkpoint (corrupt or truncated): {error}"
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a glimpse-env agent checkpoint ({FORMAT})")
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        raise ValueError(f"checkpoint {path} lacks {missing}")
    return payload
