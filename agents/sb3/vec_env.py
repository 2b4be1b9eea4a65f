"""Stable-Baselines3 ``VecEnv`` over the native vector env, with grid actions.

SB3 steps a ``VecEnv``; the usual one for Python envs is ``DummyVecEnv`` (a Python loop over N
envs, each cutting its own glimpse). :class:`GlimpseSB3VecEnv` instead drives one
:class:`glimpse_env.GlimpseVectorEnv` (one canvas batch per reset, one retina call per step) and
translates at the boundary: SB3's ``(N, 3)`` ``MultiDiscrete`` actions ``(ix, iy, label)`` (the
action space of :class:`glimpse_env.envs.wrappers.GridActions`) become the env's location and
label batches, and the env's SameStep autoreset provides SB3's ``terminal_observation``.

With the same seed it produces the same episodes as ``DummyVecEnv`` of ``GridActions``-wrapped
single envs seeded ``seed, seed + 1, ...`` (tested). Needs ``stable-baselines3``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnv,
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
)

from glimpse_env.envs import task_settings
from glimpse_env.envs.vector import GlimpseVectorEnv
from glimpse_env.envs.wrappers import DEFAULT_GRID_SIZE, check_grid_action, grid_locations


class GlimpseSB3VecEnv(VecEnv):
    """``num_envs`` glimpse episodes as one SB3 ``VecEnv``.

    Args:
        num_envs: N.
        grid_size: ``G`` of the location grid (see :class:`~glimpse_env.envs.wrappers.GridActions`).
        device: where the native env computes (observations come back as numpy).
        **task: fields of :class:`glimpse_env.envs.TaskConfig` (or an id's settings).
    """

    def __init__(
        self,
        num_envs: int,
        grid_size: int = DEFAULT_GRID_SIZE,
        device: str = "cpu",
        **task: Any,
    ) -> None:
        self.venv = GlimpseVectorEnv(
            num_envs, autoreset_mode="SameStep", output="numpy", device=device, **task
        )
        self.grid_size = grid_size
        self.render_mode = None
        classes = self.venv.config.num_classes  # 10 digits, or the sums of MNISTAddition
        action_space = spaces.MultiDiscrete([grid_size, grid_size, classes])
        super().__init__(num_envs, self.venv.single_observation_space, action_space)
        self._actions: np.ndarray | None = None
        self._next_episodes: tuple[int, np.ndarray] | None = None

    def select_episodes(self, key: int, episodes: np.ndarray) -> None:
        """Make the next :meth:`reset` start episode ``episodes[i]`` of stream ``key`` in env
        ``i`` (see :meth:`glimpse_env.GlimpseVectorEnv.reset_to`): a fixed test set, even
        through wrappers such as ``VecFrameStack`` that call ``reset()`` themselves."""
        self._next_episodes = (key, np.asarray(episodes, dtype=np.int64))

    @classmethod
    def from_id(cls, env_id: str, num_envs: int, **kwargs: Any) -> GlimpseSB3VecEnv:
        """The adapter for a registered id (``"ClutteredMNIST-v0"``...), with overrides."""
        grid_size = kwargs.pop("grid_size", DEFAULT_GRID_SIZE)
        device = kwargs.pop("device", "cpu")
        return cls(num_envs, grid_size, device, **task_settings(env_id, **kwargs))

    def reset(self) -> VecEnvObs:
        seeds = list(self._seeds)
        if self._next_episodes is not None:
            obs, info = self.venv.reset_to(*self._next_episodes)
            self._next_episodes = None
        elif all(s is None for s in seeds):
            obs, info = self.venv.reset()
        else:
            obs, info = self.venv.reset(seed=seeds)
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = self._per_env(info)
        #: The batched ``info`` of the last reset (the privileged targets, as the env gives them).
        self.reset_info = info
        #: ``(N, 2)`` where each environment looks now (normalised), for pictures of the paths.
        self.locations = np.array(obs["location"])
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        classes = self.venv.config.num_classes
        self._actions = check_grid_action(actions, self.grid_size, self.num_envs, classes)

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("step_wait() without step_async()")
        actions, self._actions = self._actions, None
        obs, rewards, terminated, truncated, info = self.venv.step(
            {"location": grid_locations(actions[:, :2], self.grid_size), "label": actions[:, 2]}
        )
        dones = terminated | truncated
        self.locations = np.array(obs["location"])
        infos = self._per_env(info.get("final_info", info) if dones.any() else info)
        if dones.any():
            final = info["final_obs"]
            for i in np.flatnonzero(dones):
                infos[i]["terminal_observation"] = {k: v[i] for k, v in final.items()}
                infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
        return obs, rewards.astype(np.float32), dones, infos

    def _per_env(self, info: dict[str, Any]) -> list[dict[str, Any]]:
        """Gymnasium's batched info -> SB3's list of per-environment dicts."""
        keys = [k for k in info if not k.startswith("_") and k not in ("final_obs", "final_info")]
        if all(bool(np.all(info.get(f"_{k}", True))) for k in keys):  # the usual case: one pass
            columns = [info[k].tolist() if info[k].ndim == 1 else list(info[k]) for k in keys]
            return [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for key in keys:
            for i in np.flatnonzero(info.get(f"_{key}", np.ones(self.num_envs, bool))):
                infos[i][key] = info[key][i]
        return infos

    def close(self) -> None:
        self.venv.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self, attr_name)] * len(self._indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **kwargs: Any
    ) -> list[Any]:
        raise NotImplementedError(
            "GlimpseSB3VecEnv runs one batched env, not N Python envs: there is no per-env "
            f"method {method_name!r} to call"
        )

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        return [False] * len(self._indices(indices))

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None] * self.num_envs

    def _indices(self, indices: VecEnvIndices) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        if isinstance(indices, int):
            return [indices]
        return list(indices)
