"""SB3 baselines scored by :func:`agents.evaluation.evaluate`, every family's evaluation: on the
fixed canvases of the protocol, acting deterministically, through every SB3 wrapper."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image as PILImage
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from agents.evaluation import EvalResult, Player, evaluate, trajectory_grid
from agents.sb3.algorithms import make_vec_env
from agents.sb3.config import BaselineConfig
from agents.sb3.vec_env import GlimpseSB3VecEnv
from glimpse_env.atomic import atomic_path
from glimpse_env.envs import task_of


class SB3Episodes:
    """The SB3 ``VecEnv`` stack seen as :func:`agents.evaluation.evaluate` sees an env:
    ``reset_to(key, episodes)`` starts the given episodes through every SB3 wrapper
    (``VecFrameStack`` included), so SB3 policies are scored by the same evaluation function, on
    the same canvases, as the attention agents."""

    def __init__(self, venv: VecEnv, adapter: GlimpseSB3VecEnv) -> None:
        self.venv, self.adapter = venv, adapter
        self.num_envs = adapter.num_envs
        self.config = adapter.venv.config
        self.distinct_canvases = adapter.venv.distinct_canvases
        self.device = adapter.venv.device
        self.last_obs: Any = None

    @property
    def canvases(self) -> torch.Tensor:
        return self.adapter.venv.canvases

    def reset_to(self, key: int, episodes: np.ndarray) -> tuple[Any, dict[str, torch.Tensor]]:
        self.adapter.select_episodes(key, episodes)
        self.last_obs = self.venv.reset()
        return self.last_obs, self.adapter.reset_info


def sb3_player(model: BaseAlgorithm) -> Player:
    """The :class:`~agents.evaluation.Player` of an SB3 policy acting deterministically
    on :class:`SB3Episodes`: its named class as one-hot logits, and the glimpse centres."""

    def play(env: SB3Episodes, first, sample, noise):
        task = env.config
        steps, scored = task.episode_length, set(task.answer_steps)
        obs, n = first[0], env.num_envs
        answers = []
        path = [env.adapter.locations]  # glimpse centres, (N, 2) per step
        state, starts = None, np.ones(n, dtype=bool)
        for step in range(steps):
            action, state = model.predict(
                obs, state=state, episode_start=starts, deterministic=True
            )
            if step + 1 in scored:
                answers.append(torch.as_tensor(np.asarray(action)[:, 2], device=env.device))
            obs, _, dones, _ = env.venv.step(action)
            starts = dones
            if step < steps - 1:  # after the last step the env has already reset
                path.append(env.adapter.locations)
        if not dones.all():
            raise RuntimeError("evaluation episodes did not end after their last step")
        named = torch.stack(answers, 1)  # (N, A)
        logits = torch.nn.functional.one_hot(named, task.num_classes).float()
        return logits, torch.from_numpy(np.stack(path, axis=1))

    return play


def evaluate_baseline(
    model: BaseAlgorithm, config: BaselineConfig, num_canvases: int, split: str = "test"
) -> EvalResult:
    """Deterministic error on the fixed canvases of ``split`` (see the module docstring), by
    :func:`agents.evaluation.evaluate`, the attention agents' evaluation."""
    batch = min(config.eval_batch_size, num_canvases)
    venv, adapter = make_vec_env(config, batch, split)
    try:
        episodes = SB3Episodes(venv, adapter)
        result = evaluate(
            model.policy, episodes, sb3_player(model), num_canvases, eval_seed=config.eval_seed
        )
    finally:
        venv.close()
    return dataclasses.replace(result, mode="deterministic")


def trajectory_image(result: EvalResult, config: BaselineConfig, count: int = 16) -> np.ndarray:
    """``(H, W, 3)`` uint8 grid of the first ``count`` test glimpse paths of ``result``."""
    task = task_of(config.env_id)
    assert result.examples is not None
    return trajectory_grid(
        result.examples, task.glimpse_size, task.num_scales, task.scale_factor, count=count
    )


def save_trajectories_png(result: EvalResult, config: BaselineConfig, path: Path) -> None:
    """:func:`trajectory_image` of ``result`` written to ``path`` as a PNG (atomically)."""
    with atomic_path(path) as tmp:
        PILImage.fromarray(trajectory_image(result, config)).save(tmp, format="PNG")
