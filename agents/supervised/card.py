"""Cards of the supervised baselines: ``results/baselines/<name>.json``.

A baseline card has the zoo card's fields where they apply (``test.greedy``, ``valid.greedy``,
``parameters``, ``updates``, ``samples``, ``wall_clock_s``, ``command_chain``, ``machine``,
``commit``, ``weights_sha256``), plus what the comparison needs: ``pixels_read`` (per canvas: the
whole canvas), ``multiply_adds`` (one forward pass), and ``matched_to``.

The weights are **not** shipped: ``models/`` holds the attention agents within its 48 MiB budget,
and a matched baseline alone is as large as a RAM model (2.6 MB). They are cheap to remake: the
card's ``command_chain`` retrains them on one CPU core (``wall_clock_s``), the same canvases
every update, and ``weights_sha256`` identifies the weights scored.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from agents.provenance import git_commit, machine
from agents.runs.directory import COMMAND_FILE
from agents.runs.final import FINAL_FILE
from agents.supervised.data import Canvases
from agents.supervised.models import count_parameters, multiply_adds
from agents.supervised.trainer import load_model, score
from glimpse_env.atomic import write_json_atomic

CARD_FORMAT = "glimpse-env-baseline-card-v1"
#: Where baseline cards are written by default.
CARD_DIR = Path(__file__).resolve().parents[2] / "results" / "baselines"


def build_card(
    checkpoint: str | Path,
    name: str,
    canvases: int = 10_000,
    notes: str = "",
    progress: bool = True,
) -> dict[str, Any]:
    """Score the baseline of ``checkpoint`` on ``canvases`` valid and test canvases and return
    its card (see the module docstring)."""

    checkpoint = Path(checkpoint)
    loaded = load_model(checkpoint)
    config = loaded.config
    batch = config.eval_batch_size
    valid_canvases, test_canvases = Canvases(config.task("valid")), Canvases(config.task("test"))
    valid = score(loaded.model, valid_canvases, canvases, batch, config.eval_seed, progress)
    test = score(loaded.model, test_canvases, canvases, batch, config.eval_seed, progress)
    channels, height, width = test_canvases.shape
    example = torch.zeros(1, channels, height, width)
    commands_file = checkpoint.parent / COMMAND_FILE
    commands = commands_file.read_text().splitlines() if commands_file.is_file() else []
    final_file = checkpoint.parent / FINAL_FILE
    return {
        "format": CARD_FORMAT,
        "name": name,
        "agent": config.model,
        "kind": "supervised",
        "env_id": config.env_id,
        "weights_file": None,
        "weights_shipped": False,
        "weights_sha256": loaded.sha256,
        "parameters": count_parameters(loaded.model),
        "sizes": loaded.sizes,
        "matched_to": {"parameters": loaded.matched_parameters, "model": loaded.matched_to},
        "pixels_read": height * width,
        "multiply_adds": multiply_adds(loaded.model, example),
        "valid": {"greedy": valid.summary()},
        "test": {"greedy": test.summary()},
        "eval_seed": config.eval_seed,
        "deterministic": True,
        "updates": loaded.update,
        "samples": loaded.update * config.batch_size,
        "wall_clock_s": round(loaded.wall_clock_s, 1),
        "run_finished": final_file.is_file(),
        "command_chain": [c for c in commands if c.strip()],
        "eval_command": "python train/supervised_baseline.py --eval RUN/best.pt",
        "machine": machine(),
        "commit": git_commit(),
        "written": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "notes": notes,
        "config": config.to_dict(),
    }


def write_card(card: dict[str, Any], directory: str | Path | None = None) -> Path:
    """Write ``card`` to ``<directory>/<name>.json`` (default :data:`CARD_DIR`), atomically."""
    path = Path(directory or CARD_DIR) / f"{card['name']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, card)
    return path


def card_summary(card: dict[str, Any], path: Path) -> str:
    """One line for the console: where a baseline card went and its valid / test errors."""
    valid, test = card["valid"]["greedy"], card["test"]["greedy"]
    return (
        f"{path}: valid {valid['error_pct']:.2f}%, test {test['error_pct']:.2f}% "
        f"({test['errors']}/{test['canvases']})"
    )
