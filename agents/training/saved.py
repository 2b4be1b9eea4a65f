"""The files that hold an attention agent's weights: zoo files (both formats) and training
checkpoints, read and written safely, with the lineage of the weights.

A zoo file is a ``safetensors`` file (no pickle: a JSON header and the raw tensor bytes). Its
tensors are the model's state dict, floating-point ones stored as float16 (half the size of
float32; :func:`read_weights` upcasts them to float32). Its text metadata holds:

- ``format`` (``"glimpse-env-zoo-v2"``), ``name``, ``agent``, ``env_id``, ``preset``;
- ``config``: the :class:`~agents.training.config.TrainConfig` as JSON;
- ``lineage``: JSON ``{"commands": [...], "updates", "samples", "wall_clock_s"}``;
- ``weights_sha256``: :func:`agents.weights.state_dict_sha256` of the stored tensors (checked on
  every read), and ``weights_dtype`` (``"float16"``);
- once the card is made, its key figures: ``valid_mc_error_pct``, ``test_mc_error_pct``,
  ``test_greedy_error_pct``, so that the file describes itself.

``lineage`` is the whole history of the weights: every command that produced them, warm starts
(``--init-from``) included, and the updates, samples and training wall-clock summed over the
chain. The card (:mod:`agents.zoo_card`) repeats it with the measured errors.

Zoo files of the first format (``models/<name>.pt``, ``glimpse-env-zoo-v1``: a ``torch.save``
dict read with ``weights_only=True``, float32) and training checkpoints are read by the same
:func:`read_weights`. Names and the models directory are :mod:`agents.zoo`'s.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

from agents.runs.checkpoint import FORMAT as CHECKPOINT_FORMAT
from agents.runs.checkpoint import load_checkpoint
from agents.runs.directory import COMMAND_FILE, LINEAGE_FILE
from agents.runs.log import valid_curve as logged_valid_curve
from agents.training.config import TrainConfig
from agents.weights import (
    WeightsMismatchError,
    check_sha256,
    is_safetensors,
    load_safetensors,
    safe_load,
    state_dict_sha256,
)
from glimpse_env.atomic import atomic_path

FORMAT = "glimpse-env-zoo-v2"
#: The first zoo format: a ``torch.save`` dict of float32 weights (``models/<name>.pt``).
LEGACY_FORMAT = "glimpse-env-zoo-v1"
#: File suffix of a zoo model, and of the first format's.
SUFFIX, LEGACY_SUFFIX = ".safetensors", ".pt"
#: How the zoo stores floating-point tensors.
STORED_DTYPE = torch.float16


def card_path(model_path: str | os.PathLike) -> Path:
    """The card beside a zoo file: ``models/<name>.json``."""
    return Path(model_path).with_suffix(".json")


@dataclass
class Weights:
    """Weights read from a zoo file or a training checkpoint, with their history.

    Attributes:
        config: the configuration that built the model.
        state: the model's state dict (on the CPU).
        sha256: :func:`agents.weights.state_dict_sha256` of ``state`` (verified).
        lineage: commands, updates, samples and training wall-clock that produced the weights.
        source: the file read.
        card: the zoo card beside a zoo file (empty for a checkpoint or a file without one).
        stored_dtype: how the file stores floating-point tensors (``"float16"`` for the zoo);
            ``state`` holds them as float32 whatever the file stores.
    """

    config: TrainConfig
    state: dict[str, torch.Tensor]
    sha256: str
    lineage: dict[str, Any]
    source: Path
    card: dict[str, Any] = field(default_factory=dict)
    stored_dtype: str = "float32"


def _empty_lineage() -> dict[str, Any]:
    return {"commands": [], "updates": 0, "samples": 0, "wall_clock_s": 0.0}


def run_lineage(run_dir: Path, updates: int, batch_size: int, wall_clock_s: float) -> dict:
    """The lineage of a run's weights at ``updates``: its parent's (``lineage.json``, written
    when it was warm-started) followed by the run's own commands and work."""
    parent = _empty_lineage()
    if (run_dir / LINEAGE_FILE).is_file():
        parent = json.loads((run_dir / LINEAGE_FILE).read_text())
    commands_file = run_dir / COMMAND_FILE
    own = commands_file.read_text().splitlines() if commands_file.is_file() else []
    return {
        "commands": [*parent["commands"], *[c for c in own if c.strip()]],
        "updates": int(parent["updates"]) + int(updates),
        "samples": int(parent["samples"]) + int(updates) * int(batch_size),
        "wall_clock_s": round(float(parent["wall_clock_s"]) + float(wall_clock_s), 1),
    }


def run_valid_curve(source: Path) -> list[list[float]]:
    """The validation curve of the run that wrote checkpoint ``source``:
    ``[[updates, wall_clock_s, greedy valid error %], ...]``, counted over the whole lineage.

    It is the parent's curve (kept in ``lineage.json`` by a warm start on the same task)
    followed by every report of the run's ``metrics.jsonl``, also those after a ``best.pt``.
    Empty for a file outside a run directory."""
    parent: dict[str, Any] = {"updates": 0, "wall_clock_s": 0.0}
    if (source.parent / LINEAGE_FILE).is_file():
        parent = json.loads((source.parent / LINEAGE_FILE).read_text())
    own = logged_valid_curve(source.parent, offset=(parent["updates"], parent["wall_clock_s"]))
    return [*parent.get("valid_curve", []), *own]


def lineage_valid_curve(weights: Weights) -> list[list[float]]:
    """The validation curve that led to ``weights``: a zoo file's card curve, or a checkpoint's
    run's (:func:`run_valid_curve`), without the reports made after the weights' own update (a
    run goes on after writing ``best.pt``)."""
    curve = weights.card.get("valid_curve", []) if weights.card else run_valid_curve(weights.source)
    return [list(point) for point in curve if point[0] <= weights.lineage["updates"]]


def read_weights(path: str | os.PathLike) -> Weights:
    """Read the model weights of a zoo file (either format) or a training checkpoint, safely,
    and verify them against the sha256 in the file and in the card beside it.

    Raises:
        FileNotFoundError, agents.weights.UnsafeFileError, agents.weights.WeightsMismatchError,
        ValueError: see :func:`agents.weights.safe_load`; also a file of neither format, or a zoo
            file whose card records other weights.
    """
    path = Path(path)
    if path.suffix == SUFFIX or is_safetensors(path):
        return _read_zoo_file(path)
    payload = safe_load(path, "model file")
    kind = payload.get("format") if isinstance(payload, dict) else None
    if kind == CHECKPOINT_FORMAT:
        payload = load_checkpoint(path)
        config = TrainConfig.from_dict(payload["config"], saved=True)
        lineage = run_lineage(
            path.parent, payload["update"], config.batch_size, payload.get("wall_clock_s", 0.0)
        )
        return Weights(config, payload["model"], payload["model_sha256"], lineage, path)
    if kind != LEGACY_FORMAT:
        raise ValueError(
            f"{path} is neither a zoo model ({FORMAT} or {LEGACY_FORMAT}) nor a training "
            f"checkpoint ({CHECKPOINT_FORMAT})"
        )
    missing = [k for k in ("config", "weights", "weights_sha256", "lineage") if k not in payload]
    if missing:
        raise ValueError(f"zoo file {path} lacks {missing}")
    sha = check_sha256(payload["weights"], payload["weights_sha256"], str(path))
    card = _matching_card(path, sha)
    config = TrainConfig.from_dict(payload["config"], saved=True)
    return Weights(config, payload["weights"], sha, payload["lineage"], path, card)


def _read_zoo_file(path: Path) -> Weights:
    """A ``glimpse-env-zoo-v2`` safetensors file: verify the stored tensors, upcast to float32."""
    stored, metadata = load_safetensors(path, "zoo model")
    if metadata.get("format") != FORMAT:
        raise ValueError(
            f"{path} is a safetensors file but not a zoo model (its metadata format is "
            f"{metadata.get('format')!r}, expected {FORMAT!r})"
        )
    missing = [k for k in ("config", "weights_sha256", "lineage") if k not in metadata]
    if missing:
        raise ValueError(f"zoo file {path} lacks the metadata {missing}")
    try:
        config_dict = json.loads(metadata["config"])
        lineage = json.loads(metadata["lineage"])
    except (json.JSONDecodeError, RecursionError) as error:
        raise ValueError(f"zoo file {path}: its metadata is not valid JSON: {error}") from None
    if not isinstance(config_dict, dict) or not isinstance(lineage, dict):
        raise ValueError(f"zoo file {path}: its config and lineage must be JSON objects")
    dtype = metadata.get("weights_dtype", "float16")
    odd = sorted(
        name
        for name, value in stored.items()
        if str(value.dtype).removeprefix("torch.") not in (dtype, "int64")
    )
    if odd:
        found = str(stored[odd[0]].dtype).removeprefix("torch.")
        raise ValueError(
            f"zoo file {path}: {odd[0]} is {found}, its metadata says {dtype} "
            f"({len(odd)} such tensors): the file is damaged or crafted"
        )
    sha = check_sha256(stored, metadata["weights_sha256"], str(path))
    card = _matching_card(path, sha)
    state = {k: v.float() if v.is_floating_point() else v for k, v in stored.items()}
    return Weights(
        TrainConfig.from_dict(config_dict, saved=True), state, sha, lineage, path, card, dtype
    )


def _matching_card(path: Path, sha: str) -> dict[str, Any]:
    """The card beside a zoo file ({} if none); an error if it describes other weights."""
    if not card_path(path).is_file():
        return {}
    card = read_card(card_path(path))
    recorded = card.get("weights_sha256")
    if recorded != sha:
        raise WeightsMismatchError(
            f"{path}: its weights (sha256 {sha[:16]}...) are not the ones its card "
            f"{card_path(path)} describes ({str(recorded)[:16]}...): the file or the card "
            "is stale (if the file is the newer one, `python -m agents.zoo_card --sync-card "
            f"{path}` rewrites its card from it)"
        )
    return card


def read_card(path: Path) -> dict[str, Any]:
    """The model card at ``path``: one clear ``ValueError`` unless it is a JSON object with
    the scores a card has (``valid``)."""
    try:
        card = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ValueError(f"{path} is not a readable model card: {error}") from None
    if not isinstance(card, dict) or "valid" not in card:
        raise ValueError(f"{path} is not a model card (no 'valid' scores)")
    return card


def save_zoo_model(
    path: str | os.PathLike,
    name: str,
    config: TrainConfig,
    model: nn.Module,
    lineage: dict,
    facts: dict[str, Any] | None = None,
) -> str:
    """Write ``model``'s weights as a zoo file (safetensors, floating-point tensors as float16,
    atomically); returns the sha256 of the stored tensors.

    ``facts``: more text metadata (the card's key figures); values are stored as strings.
    """
    state = {
        k: (v.detach().to("cpu", STORED_DTYPE) if v.is_floating_point() else v.detach().cpu())
        for k, v in model.state_dict().items()
    }
    state = {k: v.contiguous().clone() for k, v in state.items()}  # no shared storage
    sha = state_dict_sha256(state)
    metadata = {
        "format": FORMAT,
        "name": name,
        "agent": config.agent,
        "env_id": config.env_id,
        "preset": config.preset,
        "config": json.dumps(config.to_dict(), sort_keys=True),
        "lineage": json.dumps(lineage, sort_keys=True),
        "weights_sha256": sha,
        "weights_dtype": str(STORED_DTYPE).removeprefix("torch."),
        **{key: str(value) for key, value in (facts or {}).items()},
    }
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=metadata)
    return sha
