"""An SB3 baseline as a policy of the glimpse env itself: ``predict`` on the env's ``Dict``
observation, returning the env's ``{"location", "label"}`` action.

The baselines were trained through :class:`agents.sb3.vec_env.GlimpseSB3VecEnv`, which speaks
SB3's ``MultiDiscrete([G, G, C])`` grid actions, and (frame-stacked PPO) through
``VecFrameStack``. :class:`SB3Policy` does both translations itself, so the model runs in a plain
``gym.make`` or ``gym.make_vec`` loop and in :func:`agents.policy.evaluate_policy`:

- the recurrent state of RecurrentPPO, or the frame stack of PPO, is the ``state`` that
  ``predict`` returns and takes back (a stack is zeroed where ``episode_start`` is set, then the
  new observation goes last, as ``VecFrameStack`` does);
- grid actions become locations with :func:`glimpse_env.envs.wrappers.grid_locations`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm

from agents.policy import Policy
from agents.sb3.algorithms import FRAME_STACK_ORDER
from agents.sb3.config import BaselineConfig
from agents.sb3.evaluation import evaluate_baseline
from glimpse_env.envs.wrappers import grid_locations


class SB3Policy(Policy):
    """The policy (:class:`agents.policy.Policy`) of a loaded SB3 baseline
    (:func:`agents.sb3.files.load_model`).

    Args:
        model: the algorithm (its policy acts deterministically unless asked otherwise).
        config: the run's :class:`BaselineConfig` (algorithm, grid size, frame stack).
    """

    def __init__(self, model: BaseAlgorithm, config: BaselineConfig) -> None:
        self.model, self.config = model, config
        self.stacked = config.algo == "ppo" and config.frame_stack > 1

    @property
    def card(self) -> dict[str, Any]:
        """SB3 runs have no zoo card (their cards are in ``results/baselines/``)."""
        return {}

    def evaluate(self, split: str = "test", num_canvases: int | None = None) -> Any:
        """Deterministic error on canvases ``0 .. n-1`` of ``split`` (the run's
        ``eval_canvases`` by default), as the baseline cards score it."""
        return evaluate_baseline(
            self.model, self.config, num_canvases or self.config.eval_canvases, split
        )

    def _stack(self, obs: dict[str, np.ndarray], state: Any, start: np.ndarray) -> dict:
        """The frame stacks after ``obs`` (``state``: the previous stacks or None)."""
        frames = self.config.frame_stack
        stacks = {}
        for key, value in obs.items():
            axis = 1 if FRAME_STACK_ORDER.get(key, "last") == "first" else value.ndim - 1
            width = value.shape[axis]
            if state is None:
                shape = list(value.shape)
                shape[axis] *= frames
                stack = np.zeros(shape, dtype=value.dtype)
            else:
                stack = state[key].copy()
                stack[start] = 0
            stack = np.roll(stack, -width, axis=axis)
            index = [slice(None)] * value.ndim
            index[axis] = slice(-width, None)
            stack[tuple(index)] = value
            stacks[key] = stack
        return stacks

    def _predict(
        self,
        observation: dict[str, torch.Tensor],
        state: Any,
        episode_start: torch.Tensor,
        deterministic: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, Any]:
        """SB3's own ``predict`` on the batch (numpy), its grid action as a location and label;
        the state is the LSTM state, or the frame stacks."""
        obs = {k: v.cpu().numpy() for k, v in observation.items()}
        n = len(obs["location"])
        start = episode_start.cpu().numpy()
        if self.stacked:
            state = self._stack(obs, state, start)
            actions, _ = self.model.predict(state, deterministic=deterministic)
        else:
            actions, state = self.model.predict(
                obs, state=state, episode_start=start, deterministic=deterministic
            )
        actions = np.asarray(actions).reshape(n, 3)
        location = grid_locations(actions[:, :2], self.config.grid_size)
        label = actions[:, 2].astype(np.int64)
        return torch.from_numpy(np.asarray(location)), torch.from_numpy(label), state
