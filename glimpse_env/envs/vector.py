"""Native vector env: N glimpse episodes stepped as tensors in one call.

Same observations, rewards and infos as N :class:`ClutteredMNISTEnv` seeded ``seed, seed + 1,
...`` (the convention of :class:`gymnasium.vector.SyncVectorEnv`), but one batched canvas
generation per reset and one retina call per step. Registered as the ``vector_entry_point`` of
every id, so ``gym.make_vec(id, num_envs=N)`` returns it.

With ``output="torch"`` observations, rewards, terminations and info arrays are torch tensors on
``device`` (no numpy round trip), and actions may be tensors on that device: the mode agents
train in.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from glimpse_env.checks import check_memory
from glimpse_env.data.sources import ImageSource
from glimpse_env.envs.canvases import require_source, resolve_images
from glimpse_env.envs.cluttered_mnist import (
    action_space,
    check_reset_options,
    episode_info,
    observation_space,
    parse_action,
)
from glimpse_env.envs.core import GlimpseEpisodes
from glimpse_env.envs.task import check_device, check_num_envs, task_config
from glimpse_env.evaluation import evaluation_options
from glimpse_env.keyed_random import key_from_generator

OUTPUTS = ("numpy", "torch")


class GlimpseVectorEnv(VectorEnv):
    """``num_envs`` glimpse episodes as one batched environment (``gym.make_vec``'s native one).

    ## Description

    The task of :class:`glimpse_env.envs.cluttered_mnist.ClutteredMNISTEnv` for N episodes at
    once, with every canvas, glimpse and reward computed as batched tensor operations (no
    per-environment Python loop), on the CPU or a GPU. Environment ``i`` seeded with
    ``seed + i`` gives exactly what a single env seeded with ``seed + i`` gives.

    ## Action Space

    The single env's, batched: ``location`` ``(N, 2)`` float32 and ``label`` ``(N,)`` ints.

    ## Observation Space

    The single env's, batched: ``glimpse`` ``(N, k, g, g)``, ``location`` ``(N, 2)``, ``step``
    ``(N, 1)`` (and ``context`` ``(N, c, c)``); numpy, or torch tensors on ``device`` with
    ``output="torch"``.

    ## Rewards and Episode End

    As the single env's. Every episode has exactly ``config.episode_length`` steps, so all N
    episodes end on the same step.

    ## Arguments

    - ``num_envs``: number of parallel episodes N.
    - ``autoreset_mode``: Gymnasium's autoreset semantics, ``"NextStep"`` (default, as
      ``SyncVectorEnv``: the step after a termination returns the reset observation, reward 0,
      and ignores the action) or ``"SameStep"`` (the terminating step already returns the next
      episode's first observation; the terminal ones are in ``info["final_obs"]``, a batched
      dict like the observation, with ``info["final_info"]`` likewise) or ``"Disabled"`` (no
      environment is reset by ``step``: reset the ended ones with
      ``reset(options={"reset_mask": mask})``; stepping one first is an error). The mode is
      ``metadata["autoreset_mode"]``.
    - ``output``: ``"numpy"`` or ``"torch"`` (tensors on ``device``).
    - ``device``: where canvases and glimpses live (``"cpu"``, ``"cuda"``, ...).
    - ``source``: your images instead of MNIST (``GlimpseEnv/Images-v0``; see
      :func:`glimpse_env.envs.canvases.resolve_images`).
    - ``**task``: fields of :class:`glimpse_env.envs.task.TaskConfig` (``canvas_size``,
      ``num_glimpses``, ...).

    ``reset(options={"reset_mask": mask})`` resets a subset (Gymnasium 1.x convention);
    ``reset(options={"evaluation_canvases": indices})`` puts canvas ``indices[i]`` of the
    evaluation protocol in environment ``i`` (:mod:`glimpse_env.evaluation`).

    >>> import gymnasium as gym
    >>> import numpy as np
    >>> import glimpse_env
    >>> venv = gym.make_vec("ClutteredMNIST-v0", num_envs=8)
    >>> obs, info = venv.reset(seed=0)
    >>> obs["glimpse"].shape
    (8, 3, 12, 12)
    >>> action = {"location": np.zeros((8, 2), np.float32), "label": np.zeros(8, np.int64)}
    >>> for step in range(6):
    ...     obs, reward, terminated, truncated, info = venv.step(action)
    >>> bool(terminated.all()), reward.shape
    (True, (8,))

    ## Version History

    - v0 (unreleased): as the single env.
    """

    metadata = {
        "render_modes": [],
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }

    def __init__(
        self,
        num_envs: int,
        autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
        output: str = "numpy",
        device: str | torch.device = "cpu",
        render_mode: str | None = None,
        source: ImageSource | str | os.PathLike | None = None,
        **task: Any,
    ) -> None:
        if render_mode is not None:
            raise ValueError(
                "the native vector env does not render; use glimpse_env.render on "
                "env.canvases and the locations, or a single env with render_mode='rgb_array'"
            )
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        try:
            self.autoreset_mode = AutoresetMode(autoreset_mode)
        except ValueError:
            modes = [mode.value for mode in AutoresetMode]
            raise ValueError(
                f"autoreset_mode must be one of {modes}, got {autoreset_mode!r}"
            ) from None
        self.metadata = {**self.metadata, "autoreset_mode": self.autoreset_mode}
        images, task = resolve_images(source, task)
        self.config = task_config(**task)
        self.num_envs = check_num_envs(num_envs)
        per_env = sum(self.config.memory_needs().values())
        check_memory(f"{num_envs:,} environments", {"num_envs": per_env}, copies=num_envs)
        self.output = output
        self.device = check_device(device)
        self._episodes = GlimpseEpisodes(self.config, num_envs, self.device, images=images)
        self.single_observation_space = observation_space(self.config, self._episodes.channels)
        self.single_action_space = action_space(self.config)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.render_mode = None
        self._autoreset = np.zeros(num_envs, dtype=bool)
        self._started = False

    # ---- accessors -------------------------------------------------------------------------
    @property
    def canvases(self) -> torch.Tensor:
        """``(N, H, W)`` uint8 current canvases on ``device`` (``(N, C, H, W)`` with ``C > 1``
        channels; privileged)."""
        return self._episodes.images

    @property
    def distinct_canvases(self) -> int | None:
        """How many different canvases the split serves: a dataset file's rows, or None for
        generated canvases (every episode a new one)."""
        return self._episodes.source.distinct_canvases

    @property
    def episodes(self) -> GlimpseEpisodes:
        """The rules engine itself (canvases, labels, boxes, locations, step counts), mutated by
        every step. Trainers read ``info`` and the accessors below instead."""
        return self._episodes

    # ---- privileged training targets (documented; not part of what a policy observes) -----
    @property
    def canvas_shape(self) -> tuple[int, int]:
        """``(H, W)`` of the canvases, pixels."""
        return self._episodes.canvas_shape

    @property
    def channels(self) -> int:
        """``C``, channels of the canvases (1: grayscale)."""
        return self._episodes.channels

    def target_affine(self) -> torch.Tensor:
        """``(N, D, 6)`` float32 ground-truth affine of each current canvas's digits, on
        ``device`` (a new tensor; :meth:`glimpse_env.envs.core.GlimpseEpisodes.target_affine`):
        privileged, for supervised location losses (EDRAM)."""
        return self._episodes.target_affine().clone()

    def source_rows(self) -> tuple[torch.Tensor, int]:
        """``((N,) int64, num_sources)``: which example of the split each current canvas was
        drawn from (a copy), and how many the split has; privileged, for losses that use the
        digit positions of a labelled fraction of the examples only (L-DRAM)."""
        return self._episodes.sources.clone(), self._episodes.source.num_sources

    # ---- conversions -----------------------------------------------------------------------
    def _out(self, value: torch.Tensor) -> torch.Tensor | np.ndarray:
        return value if self.output == "torch" else value.cpu().numpy()

    def _observation(self, glimpses: torch.Tensor) -> dict[str, Any]:
        steps = self._episodes.steps.to(torch.float32)[:, None]
        observation = {
            "glimpse": self._out(glimpses),
            "location": self._out(self._episodes.locations.clone()),
            "step": self._out(steps / self._episodes.config.episode_length),
        }
        if self._episodes.config.context_size:
            observation["context"] = self._out(self._episodes.context.clone())
        return observation

    def _info(self) -> dict[str, Any]:
        everyone = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        info: dict[str, Any] = {}
        for key, value in episode_info(self._episodes).items():
            info[key], info[f"_{key}"] = self._out(value), self._out(everyone.clone())
        return info

    # ---- Gymnasium API ---------------------------------------------------------------------
    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Reset all environments (or those in ``options["reset_mask"]``).

        ``seed`` may be an int (environment i gets ``seed + i``) or a list of N ints/None.
        ``options={"evaluation_canvases": indices}`` (``(N,)`` ints, optionally with
        ``"eval_seed"``) puts canvas ``indices[i]`` of the evaluation protocol in environment
        ``i`` (:mod:`glimpse_env.evaluation`), as :meth:`reset_to` with its key.
        """
        check_reset_options(options, ("reset_mask", "evaluation_canvases", "eval_seed"))
        evaluation = evaluation_options(options, self.num_envs)
        if evaluation is not None:
            if seed is not None or "reset_mask" in (options or {}):
                raise ValueError("evaluation_canvases resets every environment; drop seed/mask")
            return self.reset_to(*evaluation)
        mask = None
        if options and "reset_mask" in options:
            mask = np.asarray(
                options["reset_mask"].cpu()
                if isinstance(options["reset_mask"], torch.Tensor)
                else options["reset_mask"],
                dtype=bool,
            )
            if mask.shape != (self.num_envs,):
                raise ValueError(f"reset_mask must have shape ({self.num_envs},), got {mask.shape}")
        selected = np.ones(self.num_envs, bool) if mask is None else mask
        if isinstance(seed, int):
            self._np_random, _ = seeding.np_random(seed)
            seeds: list[int | None] = [seed + i for i in range(self.num_envs)]
        elif seed is None:
            seeds = [None] * self.num_envs
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"need {self.num_envs} seeds, got {len(seeds)}")
        rekey = selected & np.array([s is not None or not self._started for s in seeds], dtype=bool)
        if rekey.any():
            keys = [
                key_from_generator(seeding.np_random(s)[0])
                if s is not None
                else key_from_generator(self.np_random)
                for s, r in zip(seeds, rekey, strict=True)
                if r
            ]
            self._episodes.set_keys(np.array(keys, dtype=np.uint64), rekey)
        self._started = True
        glimpses = self._episodes.reset(mask)
        self._autoreset[selected] = False
        return self._observation(glimpses), self._info()

    def reset_to(
        self, keys: int | np.ndarray, episodes: np.ndarray
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Reset every environment to a chosen canvas: episode ``episodes[i]`` of stream
        ``keys[i]``.

        A canvas is a pure function of (stream key, episode index), so this addresses a fixed set
        of canvases without stepping through the ones before it: evaluation on a fixed test set
        (one key, episodes ``0 .. n-1`` visit the split's digits once each, in a keyed random
        order), Monte-Carlo evaluation (the same pair repeated puts one canvas in several
        environments), and resuming training at the episode it had reached.
        Keys come from :func:`glimpse_env.keyed_random.key_from_generator`. Afterwards ``reset()``
        continues each stream at the next episode.

        Args:
            keys: one uint64 key for all environments, or ``(N,)`` keys.
            episodes: ``(N,)`` non-negative episode indices.
        """
        keys = np.broadcast_to(np.asarray(keys, dtype=np.uint64), (self.num_envs,))
        episodes = np.asarray(episodes, dtype=np.int64)
        if episodes.shape != (self.num_envs,):
            raise ValueError(f"episodes must have shape ({self.num_envs},), got {episodes.shape}")
        self._episodes.set_keys(keys, next_episodes=episodes)
        self._started = True
        glimpses = self._episodes.reset()
        self._autoreset[:] = False
        return self._observation(glimpses), self._info()

    def step(self, actions: dict[str, Any]) -> tuple[dict[str, Any], Any, Any, Any, dict[str, Any]]:
        if not self._started:
            raise RuntimeError("call reset() before step()")
        locations, labels = parse_action(actions, self.num_envs, self.config.num_classes)
        pending = self._autoreset
        if self.autoreset_mode == AutoresetMode.DISABLED and pending.any():
            raise RuntimeError(
                f"environments {np.flatnonzero(pending).tolist()} have ended and autoreset_mode "
                "is Disabled: reset them first, reset(options={'reset_mask': mask})"
            )
        if self.autoreset_mode == AutoresetMode.NEXT_STEP and pending.any():
            if not pending.all():
                # Mixed: only possible after a partial reset. Step the others, then reset these.
                keep = torch.from_numpy(~pending).to(self.device)
                result = self._episodes.step(locations, labels)
                glimpses = self._episodes.reset(pending)
                rewards = torch.where(keep, result.rewards, 0.0)
                terminated = result.terminated & keep
                infos = self._info()
                self._add_success(infos, terminated)
            else:
                glimpses = self._episodes.reset()
                rewards = torch.zeros(self.num_envs, device=self.device)
                terminated = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
                infos = self._info()
        else:
            result = self._episodes.step(locations, labels)
            glimpses, rewards, terminated = result.glimpses, result.rewards, result.terminated
            infos = self._info()
            self._add_success(infos, terminated)
            if self.autoreset_mode == AutoresetMode.SAME_STEP and bool(terminated.any()):
                done = terminated.cpu().numpy()
                infos["final_obs"] = self._observation(glimpses)
                infos["_final_obs"] = self._out(terminated.clone())
                infos["final_info"] = dict(infos)
                infos["_final_info"] = infos["_final_obs"]
                glimpses = self._episodes.reset(done)
                infos.update(self._info())
        self._autoreset = terminated.cpu().numpy().copy()
        truncated = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        return (
            self._observation(glimpses),
            self._out(rewards.to(torch.float32))
            if self.output == "torch"
            else rewards.cpu().numpy().astype(np.float64),
            self._out(terminated),
            self._out(truncated),
            infos,
        )

    def _add_success(self, infos: dict[str, Any], done: torch.Tensor) -> None:
        if bool(done.any()):
            infos["is_success"] = self._out(self._episodes.succeeded() & done)
            infos["_is_success"] = self._out(done.clone())


def make_images_vector_env(
    num_envs: int, source: ImageSource | str | os.PathLike | None = None, **kwargs: Any
) -> GlimpseVectorEnv:
    """``gym.make_vec("GlimpseEnv/Images-v0", num_envs, source=...)``: the native vector env
    on your images; ``source`` is required."""
    require_source(source)
    return GlimpseVectorEnv(num_envs, source=source, **kwargs)
