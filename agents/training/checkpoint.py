"""Training checkpoints: one ``torch.save`` file, written atomically (temporary name, rename).

A checkpoint holds tensors and plain values only (the model and optimiser state dicts, the
policy-noise generator state as a uint8 tensor, the config as a dict, ...) and is read back with
``weights_only=True`` (:func:`agents.weights.safe_load`): loading one never runs code from it.
It records the sha256 of its model weights, checked on load.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from agents.weights import check_sha256, safe_load, state_dict_sha256
from glimpse_env.atomic import atomic_path

#: Keys every checkpoint holds.
REQUIRED_KEYS = ("format", "config", "update", "model", "optimizer", "scheduler", "rng")
FORMAT = "glimpse-env-agent-checkpoint-v1"


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (see :data:`REQUIRED_KEYS`) to ``path`` atomically, with the sha256 of
    its model weights (``model_sha256``).

    A crash or Ctrl-C while writing leaves the previous checkpoint at ``path`` intact.
    """
    missing = [key for key in REQUIRED_KEYS if key != "format" and key not in payload]
    if missing:
        raise ValueError(f"checkpoint payload lacks {missing}")
    record = {"format": FORMAT, **payload, "model_sha256": state_dict_sha256(payload["model"])}
    with atomic_path(path) as tmp:
        torch.save(record, tmp)
    return Path(path)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (safely; see the module docstring).

    Raises:
        FileNotFoundError: no file at ``path``.
        agents.weights.UnsafeFileError: the file would run code to load; it was not loaded.
        agents.weights.WeightsMismatchError: its weights do not match their recorded sha256.
        ValueError: the file is not a readable checkpoint of this format.
    """
    path = Path(path)
    payload = safe_load(path, "checkpoint", map_location)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a glimpse-env agent checkpoint ({FORMAT})")
    missing = [key for key in (*REQUIRED_KEYS, "model_sha256") if key not in payload]
    if missing:
        raise ValueError(f"checkpoint {path} lacks {missing}")
    check_sha256(payload["model"], payload["model_sha256"], str(path))
    return payload
