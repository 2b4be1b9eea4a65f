"""A trained attention agent as a policy: ``predict`` on the env's own observations, as SB3's::

    from agents import zoo
    agent = zoo.load("ram-cluttered60-6g")
    env = gym.make("ClutteredMNIST-v0", split="test")
    obs, info = env.reset(options={"evaluation_canvas": 0})
    state, start, done = None, True, False
    while not done:
        action, state = agent.predict(obs, state, episode_start=start)
        obs, reward, done, truncated, info = env.step(action)
        start = False

:class:`AttentionPolicy` drives any model with the
:class:`agents.training.rollout.AttentionAgent` interface (RAM, DRAM, L-DRAM) on the public
observation only: the glimpse, the location it was taken at and, for DRAM, the context view.
Every step it returns a full env action: the next location and the label it would name now (the
env reads the label on the steps that score one). Its timing is :func:`rollout`'s, so a
deterministic policy gives the answers of greedy evaluation.

:func:`evaluate_policy` scores any object with that ``predict`` (a zoo agent or your own
policy) on the evaluation protocol's canvases (:mod:`glimpse_env.evaluation`) through the
public vector env, and counts an episode as right when every label it named was right.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from agents.training.evaluate import EvalResult
from glimpse_env.envs.core import TaskConfig
from glimpse_env.envs.vector import GlimpseVectorEnv
from glimpse_env.envs.wrappers import VectorCanvasObservation
from glimpse_env.evaluation import EVAL_SEED, check_canvas_count

Observation = dict[str, Any]


class Policy(Protocol):
    """Anything with SB3's ``predict``: ``(action, state)`` from an observation.

    ``observation`` is a single env's or a vector env's (numpy or torch); ``episode_start``
    marks the environments whose episode has just begun (``(N,)`` bool, or one bool);
    ``state`` is whatever the policy returned last (None at the start)."""

    def predict(
        self,
        observation: Observation,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[dict[str, Any], Any]: ...


def _merge(fresh: Any, previous: Any, start: torch.Tensor) -> Any:
    """Row-wise choice between two recurrent states (dataclasses of ``(N, ...)`` tensors)."""
    values = {}
    for f in dataclasses.fields(fresh):
        a, b = getattr(fresh, f.name), getattr(previous, f.name)
        if isinstance(a, torch.Tensor):
            a = torch.where(start.view(-1, *([1] * (a.dim() - 1))), a, b)
        values[f.name] = a
    return type(fresh)(**values)


class AttentionPolicy:
    """``predict`` for a REINFORCE-trained attention model (see the module docstring).

    Args:
        model: the model (``initial_state``, ``observe``, ``location_mean``, ``classify``).
        task: the task it plays (for ``first_move``: whether step 1 only moves, DRAM).
        location_std: the Gaussian policy's std (normalised units), for
            ``deterministic=False``.
        generator: the noise source of stochastic actions (default: torch's global one).
    """

    def __init__(
        self,
        model: nn.Module,
        task: TaskConfig,
        location_std: float,
        generator: torch.Generator | None = None,
    ) -> None:
        self.model, self.task, self.location_std = model, task, location_std
        self.generator = generator
        self.device = next(model.parameters()).device

    def _tensor(self, value: Any, dtype: torch.dtype) -> torch.Tensor:
        if isinstance(value, torch.Tensor):
            return value.to(self.device, dtype)
        return torch.as_tensor(np.asarray(value), dtype=dtype, device=self.device)

    def _batch(self, value: Any, single: bool) -> torch.Tensor:
        tensor = self._tensor(value, torch.float32)
        return tensor.unsqueeze(0) if single else tensor

    @torch.no_grad()
    def predict(
        self,
        observation: Observation,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[dict[str, Any], Any]:
        """The action for ``observation`` and the new recurrent state.

        Args:
            observation: ``{"glimpse": (k, g, g) or (N, k, g, g), "location": (2,) or (N, 2),
                ...}`` as the single env or the vector env returns it (numpy or torch).
            state: the state this method returned last; None starts every episode.
            episode_start: which environments begin an episode with this observation
                (``(N,)`` bool or one bool; default: all when ``state`` is None, else none).
            deterministic: the policy's mean location (greedy) or a sample around it.

        Returns:
            ``({"location": (2,) or (N, 2) float32, "label": int or (N,) int64}, state)``, as
            numpy when the observation is numpy, else torch on the model's device.
        """
        if "glimpse" not in observation or "location" not in observation:
            raise ValueError(
                "observation must have 'glimpse' and 'location' (a glimpse env's observation), "
                f"got keys {sorted(observation)}"
            )
        as_torch = isinstance(observation["location"], torch.Tensor)
        location = self._tensor(observation["location"], torch.float32)
        single = location.dim() == 1
        obs = {
            key: self._batch(value, single)
            for key, value in observation.items()
            if key in ("glimpse", "location", "context")
        }
        n = obs["location"].shape[0]
        if episode_start is None:
            start = torch.full((n,), state is None, dtype=torch.bool, device=self.device)
        else:
            start = self._tensor(episode_start, torch.bool).reshape(-1).expand(n)
        if state is None and not bool(start.all()):
            raise ValueError("state is None but episode_start is not all True")
        fresh = self.model.initial_state(obs)
        base = fresh if state is None else _merge(fresh, state, start)
        observed = self.model.observe(obs["glimpse"], obs["location"], base)
        # With a first move (DRAM), the reset glimpse is empty: the state stays the initial one.
        state = _merge(base, observed, start) if self.task.first_move else observed
        mean = self.model.location_mean(state)
        if not deterministic:
            noise = torch.randn(mean.shape, generator=self.generator, device=self.device)
            mean = mean + self.location_std * noise
        label = self.model.classify(state).argmax(-1)
        return env_action(mean.clamp(-1.0, 1.0), label, single, as_torch), state


def env_action(
    location: torch.Tensor, label: torch.Tensor, single: bool, as_torch: bool
) -> dict[str, Any]:
    """The env's action from ``(N, 2)`` locations and ``(N,)`` labels: row 0 alone for a single
    env (``single``), torch tensors or numpy arrays (an int label for a single env)."""
    if single:
        location, label = location[0], label[0]
    if as_torch:
        return {"location": location, "label": label}
    return {
        "location": location.cpu().numpy(),
        "label": int(label) if single else label.cpu().numpy(),
    }


def evaluate_policy(
    policy: Policy,
    env_id: str,
    split: str = "test",
    num_canvases: int = 1000,
    eval_seed: int = EVAL_SEED,
    batch_size: int = 500,
    deterministic: bool = True,
    progress: bool = False,
    **task: Any,
) -> EvalResult:
    """Error of ``policy`` on canvases ``0 .. num_canvases-1`` of ``split`` (the evaluation
    protocol), played on the public vector env of ``env_id`` (``task``: its overrides).

    Only observations, rewards and ``info["label"]`` are read: any object with ``predict``
    (:class:`Policy`) is scored the way the zoo cards score greedy paths. A policy whose
    ``observes_canvas`` is true also sees ``obs["canvas"]``
    (:class:`glimpse_env.envs.wrappers.VectorCanvasObservation`). An episode is right
    when every label it names is right (its total reward equals its number of answers).
    """
    from glimpse_env.envs import ENV_IDS, task_name

    if split not in ("valid", "test"):
        raise ValueError(f"split must be 'valid' or 'test', got {split!r}")
    settings = {**ENV_IDS[task_name(env_id)], **task}
    native = GlimpseVectorEnv(
        min(batch_size, num_canvases), output="numpy", split=split, **settings
    )
    env: Any = (
        VectorCanvasObservation(native) if getattr(policy, "observes_canvas", False) else native
    )
    check_canvas_count(num_canvases, native.distinct_canvases, split)
    answers = len(native.config.answer_steps)
    errors = 0
    starts = range(0, num_canvases, env.num_envs)
    for first in tqdm(starts, desc="policy eval", unit="batch", disable=not progress):
        ids = np.arange(first, first + env.num_envs)
        obs, _ = env.reset(options={"evaluation_canvases": ids, "eval_seed": eval_seed})
        state, start = None, np.ones(env.num_envs, dtype=bool)
        total = np.zeros(env.num_envs)
        done = np.zeros(env.num_envs, dtype=bool)
        while not done.all():
            action, state = policy.predict(obs, state, start, deterministic)
            obs, reward, done, _, _ = env.step(action)
            total += reward
            start = np.zeros(env.num_envs, dtype=bool)
        counted = ids < num_canvases
        errors += int(((total < answers - 1e-6) & counted).sum())
    return EvalResult("greedy" if deterministic else "sampled", errors, num_canvases, None, split)
