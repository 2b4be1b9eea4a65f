"""Reference agents built on :mod:`glimpse_env`.

- :mod:`agents.models`: the networks (RAM, DRAM, EDRAM) and the registry name -> builder;
- :mod:`agents.training`: the attention agents' trainer, objectives, rollout, losses,
  configuration and presets, command line, evaluation;
- :mod:`agents.runs`: what every trainer shares: run directory, run log, checkpoints, the loop;
- :mod:`agents.supervised`: the FC/CNN full-canvas baselines;
- :mod:`agents.sb3`: the SB3 adapter, feature extractor and PPO / RecurrentPPO baselines (the
  only place that imports stable-baselines3);
- :mod:`agents.zoo` (load a trained model by name), :mod:`agents.zoo_card` (publish one) and
  :mod:`agents.weights` (safe loading, weight fingerprints).

``agents`` imports :mod:`glimpse_env`, never the reverse.

:func:`load` is the one loader of trained agents: every one it returns has
``predict(obs, state, episode_start, deterministic)`` on the env's own observations,
``evaluate(split, num_canvases)``, ``config`` and ``card``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def load(name_or_path: str | os.PathLike, device: str = "cpu", **changes: Any) -> Any:
    """Load a trained agent, whatever wrote it.

    - a zoo name (``"ram-cluttered60-6g"``), a zoo file or an attention agent's checkpoint:
      :func:`agents.zoo.load` (a :class:`agents.zoo.ZooAgent`; ``changes`` set evaluation
      fields);
    - an SB3 run directory or its ``model.zip``: an :class:`agents.sb3.policy.SB3Policy` built
      from the run's ``config.json``, parameters only (needs the ``baselines`` extra);
    - a supervised baseline's checkpoint (``best.pt``): an
      :class:`agents.supervised.policy.SupervisedPolicy`.

    EDRAM and the supervised baselines read the whole canvas: their ``observes_canvas`` is true
    and they play an env wrapped in :class:`glimpse_env.envs.wrappers.CanvasObservation`.
    """
    path = Path(name_or_path)
    if path.is_dir() and not (path / "model.zip").is_file():
        raise FileNotFoundError(f"{path} is a directory without a model.zip (not an SB3 run)")
    model_zip = path / "model.zip" if path.is_dir() else path
    if model_zip.suffix == ".zip":
        from agents.sb3.config import saved_config
        from agents.sb3.files import load_model
        from agents.sb3.policy import SB3Policy

        if changes:
            raise ValueError(f"an SB3 run takes no changes, got {sorted(changes)}")
        config = saved_config(model_zip.parent, device=device)
        return SB3Policy(load_model(model_zip, config), config)
    if path.is_file() and _is_supervised_checkpoint(path):
        from agents.supervised.policy import SupervisedPolicy

        return SupervisedPolicy.load(path, device, **changes)
    from agents import zoo

    return zoo.load(name_or_path, device=device, **changes)


def _is_supervised_checkpoint(path: Path) -> bool:
    """Whether ``path`` is a supervised baseline's checkpoint (read safely, weights only)."""
    from agents.supervised.trainer import FORMAT
    from agents.weights import is_safetensors, safe_load

    if is_safetensors(path):
        return False
    payload = safe_load(path, "model file")
    return isinstance(payload, dict) and payload.get("format") == FORMAT
