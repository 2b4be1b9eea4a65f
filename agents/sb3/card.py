"""Cards of the SB3 baselines (RecurrentPPO, frame-stacked PPO): ``results/baselines/<name>.json``.

An SB3 card has the supervised baseline card's fields (:mod:`agents.supervised.card`): the
deterministic error on the fixed ``valid`` and ``test`` canvases, ``parameters`` (the policy's),
``pixels_read`` (the glimpse values per canvas: ``T k g^2``), ``multiply_adds`` (one
deterministic episode of the policy, :mod:`agents.compute`), ``env_steps`` and ``samples``
(episodes) of training, ``wall_clock_s``, ``command_chain``, ``machine``, ``commit``,
``weights_sha256``, and what makes an SB3 row comparable with the others:

- ``budget``: the budget the run was trained to, stated before it ran (``"equal wall-clock with
  ram-cluttered60-6g"``...), free text;
- ``selection``: how its settings were chosen (on ``valid``);
- ``valid_curve``: the run's periodic validation errors ``[[env_steps, wall_clock_s, error_pct],
  ...]`` up to the scored checkpoint (its ``metrics.jsonl``).

The weights are not shipped (an SB3 policy is as large as a RAM model, and ``models/`` is at its
budget): ``command_chain`` retrains them and ``weights_sha256`` is the ``policy_sha256`` the run's
``checkpoint.json`` recorded for the scored ``model.zip``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from agents.compute import MultiplyAddCounter
from agents.provenance import git_commit, machine
from agents.runs.log import valid_curve
from agents.sb3.config import saved_config
from agents.sb3.evaluation import evaluate_baseline
from agents.sb3.files import load_model, read_checkpoint_state
from agents.supervised.card import CARD_DIR, write_card
from glimpse_env.envs import task_of

CARD_FORMAT = "glimpse-env-baseline-card-v1"
__all__ = ["CARD_DIR", "CARD_FORMAT", "build_card", "write_card"]


def build_card(
    model_zip: str | Path,
    name: str,
    canvases: int = 10_000,
    budget: str = "",
    selection: str = "",
    notes: str = "",
) -> dict[str, Any]:
    """Score the SB3 policy saved as ``model_zip`` (a run's or a kept checkpoint's
    ``model.zip``, with the run's ``config.json`` and ``checkpoint.json`` beside it) on
    ``canvases`` valid and test canvases and return its card (see the module docstring).

    Raises:
        FileNotFoundError: ``model_zip``, or the ``config.json`` / ``checkpoint.json`` beside it,
            is missing.
        ValueError: ``name`` is empty, or the zip is not a model of that config.
    """
    model_zip = Path(model_zip)
    if not name:
        raise ValueError("an SB3 card needs a name (e.g. recurrent-ppo-cluttered60)")
    if not model_zip.is_file():
        raise FileNotFoundError(f"no SB3 model file at {model_zip}")
    if model_zip.suffix != ".zip":
        raise ValueError(f"{model_zip} is not an SB3 model (a run's model.zip)")
    run_dir = model_zip.parent
    state = read_checkpoint_state(model_zip)  # the steps and seconds
    config = saved_config(run_dir, eval_batch_size=min(1000, canvases))
    model = load_model(model_zip, config)  # checks the parameters against policy_sha256
    valid = evaluate_baseline(model, config, canvases, "valid")
    test = evaluate_baseline(model, config, canvases, "test")
    with MultiplyAddCounter(model.policy) as count:
        evaluate_baseline(model, config, 1, "valid")
    task = task_of(config.env_id)
    steps = int(state["timesteps"])
    commands_file = run_dir / "command.txt"
    commands = commands_file.read_text().splitlines() if commands_file.is_file() else []
    return {
        "format": CARD_FORMAT,
        "name": name,
        "agent": config.algo,
        "kind": "sb3",
        "env_id": config.env_id,
        "weights_file": None,
        "weights_shipped": False,
        "weights_sha256": state["policy_sha256"],
        "parameters": sum(p.numel() for p in model.policy.parameters() if p.requires_grad),
        "pixels_read": task.num_glimpses * task.num_scales * task.glimpse_size**2,
        "multiply_adds": int(count.total),
        "valid": {"greedy": valid.summary()},
        "test": {"greedy": test.summary()},
        "eval_seed": config.eval_seed,
        "deterministic": True,
        "env_steps": steps,
        "samples": steps // task.episode_length,
        "wall_clock_s": float(state["wall_clock_s"]),
        "budget": budget,
        "selection": selection,
        "valid_curve": valid_curve(run_dir, up_to=steps),
        "command_chain": [c for c in commands if c.strip()],
        "eval_command": "python train/ppo_baseline.py --eval RUN/model.zip",
        "machine": machine(),
        "commit": git_commit(),
        "written": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "notes": notes,
        "config": config.to_dict(),
    }
