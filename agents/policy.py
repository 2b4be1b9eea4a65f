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

:class:`Policy` is the base of every family's policy: its ``predict`` handles a single or a
vector env's observation, numpy or torch, and the episode starts, once, and calls the family's
``_predict`` on ``(N, ...)`` tensors (:class:`AttentionPolicy` here,
:class:`agents.canvas_policy.CanvasPolicy` for EDRAM and the supervised baselines,
:class:`agents.sb3.policy.SB3Policy`).

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
from typing import Any

import numpy as np
import torch
from torch import nn

from agents.evaluation import EvalResult, Player, evaluate
from glimpse_env.envs import task_settings
from glimpse_env.envs.task import TaskConfig
from glimpse_env.envs.vector import GlimpseVectorEnv
from glimpse_env.evaluation import EVAL_SEED

Observation = dict[str, Any]
#: The ``mode`` of an :func:`evaluate_policy` result: the policy's own actions, one score.
POLICY_MODE = "policy"


class Policy:
    """The base of every trained agent's policy: SB3's ``predict``, implemented once.

    :meth:`predict` accepts a single env's observation or a vector env's, numpy or torch, and
    ``episode_start`` as one bool or ``(N,)``; it turns them into ``(N, ...)`` tensors on the
    policy's ``device``, checks them, and calls the family's :meth:`_predict`, which sees only
    batches. It returns the env action in the observation's form. A family implements
    :meth:`_predict` (and sets ``device``; ``observes_canvas`` when it reads ``obs["canvas"]``).

    :func:`evaluate_policy` scores any object with ``predict``, not only subclasses.
    """

    #: Whether the observation must hold ``canvas`` (a whole-canvas model; see
    #: :class:`glimpse_env.envs.wrappers.CanvasObservation`).
    observes_canvas: bool = False
    device: torch.device = torch.device("cpu")

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
                "step": (1,) or (N, 1), ...}`` as the single env or the vector env returns it
                (numpy or torch); ``canvas`` too for a policy that ``observes_canvas``.
            state: the state this method returned last; None starts every episode.
            episode_start: which environments begin an episode with this observation
                (``(N,)`` bool or one bool; default: all when ``state`` is None, else none).
            deterministic: the policy's greedy action, or a sample (for a stochastic policy).

        Returns:
            ``({"location": (2,) or (N, 2) float32, "label": int or (N,) int64}, state)``, as
            numpy when the observation is numpy, else torch on the policy's device.

        Raises:
            ValueError: a key the policy needs is missing, a glimpse or location is not finite,
                a glimpse holds pixel values (uint8 0-255) instead of the env's [0, 1] floats,
                the observation's rows disagree, or ``episode_start`` does not fit them.
        """
        batch, single, as_torch = self._batch(observation)
        n = batch["location"].shape[0]
        if episode_start is None:
            start = torch.full((n,), state is None, dtype=torch.bool, device=self.device)
        else:
            given = (
                episode_start.to(self.device)
                if isinstance(episode_start, torch.Tensor)
                else torch.as_tensor(np.asarray(episode_start), device=self.device)
            ).reshape(-1)
            if given.numel() not in (1, n):
                raise ValueError(f"episode_start has {given.numel()} entries for {n} environments")
            start = given.bool().expand(n)
        if state is None and not bool(start.all()):
            raise ValueError("state is None but episode_start is not all True")
        location, label, state = self._predict(batch, state, start, deterministic)
        return env_action(location.clamp(-1.0, 1.0).float(), label, single, as_torch), state

    def _predict(
        self,
        observation: dict[str, torch.Tensor],
        state: Any,
        episode_start: torch.Tensor,
        deterministic: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, Any]:
        """The family's step on a batch: ``(locations (N, 2), labels (N,) int64, state)``.

        ``observation`` holds ``(N, ...)`` tensors on ``device`` (float32; ``canvas`` uint8),
        ``episode_start`` is ``(N,)`` bool, ``state`` what this method returned last (None
        only when every environment starts)."""
        raise NotImplementedError

    def _batch(self, observation: Observation) -> tuple[dict[str, torch.Tensor], bool, bool]:
        """``(batch, single, as_torch)``: the observation as ``(N, ...)`` tensors on ``device``,
        whether it was a single env's, and whether it came as torch."""
        if not isinstance(observation, dict) or "location" not in observation:
            keys = sorted(observation) if isinstance(observation, dict) else type(observation)
            raise ValueError(
                "observation must be a glimpse env's dict with 'glimpse' and 'location', got "
                f"{keys}"
            )
        if self.observes_canvas and "canvas" not in observation:
            raise ValueError(
                "this model reads the whole canvas: wrap the env in "
                "glimpse_env.envs.wrappers.CanvasObservation (VectorCanvasObservation for a "
                "vector env) so the observation holds 'canvas'"
            )
        as_torch = isinstance(observation["location"], torch.Tensor)
        single = np.ndim(observation["location"]) == 1
        batch = {}
        for key, value in observation.items():
            dtype = torch.uint8 if key == "canvas" else torch.float32
            if isinstance(value, torch.Tensor):
                tensor = value.to(self.device)
            else:
                tensor = torch.as_tensor(np.asarray(value), device=self.device)
            if key == "glimpse" and tensor.dtype == torch.uint8:
                raise ValueError(
                    "glimpse is uint8 (pixel values 0-255?); the env's glimpses are float32 in "
                    "[0, 1]"
                )
            tensor = tensor.to(dtype)
            batch[key] = tensor.unsqueeze(0) if single else tensor
        rows = {key: value.shape[0] for key, value in batch.items()}
        if len(set(rows.values())) != 1:
            raise ValueError(f"observation entries disagree on the number of rows: {rows}")
        for key in ("glimpse", "location"):
            if key in batch and not bool(torch.isfinite(batch[key]).all()):
                raise ValueError(f"observation {key!r} holds NaN or infinite values")
        return batch, single, as_torch


def _merge(fresh: Any, previous: Any, start: torch.Tensor) -> Any:
    """Row-wise choice between two recurrent states (dataclasses of ``(N, ...)`` tensors)."""
    values = {}
    for f in dataclasses.fields(fresh):
        a, b = getattr(fresh, f.name), getattr(previous, f.name)
        if isinstance(a, torch.Tensor):
            if isinstance(b, torch.Tensor) and b.shape != a.shape:
                raise ValueError(
                    f"state holds {b.shape[0]} environments, the observation {a.shape[0]}: pass "
                    "the state returned for this batch of environments (or None)"
                )
            a = torch.where(start.view(-1, *([1] * (a.dim() - 1))), a, b)
        values[f.name] = a
    return type(fresh)(**values)


class AttentionPolicy(Policy):
    """The policy of a REINFORCE-trained attention model (see the module docstring).

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

    def _predict(
        self,
        observation: dict[str, torch.Tensor],
        state: Any,
        episode_start: torch.Tensor,
        deterministic: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, Any]:
        if "glimpse" not in observation:
            raise ValueError(
                "observation must have 'glimpse' and 'location' (a glimpse env's observation), "
                f"got keys {sorted(observation)}"
            )
        obs = {k: v for k, v in observation.items() if k in ("glimpse", "location", "context")}
        fresh = self.model.initial_state(obs)
        base = fresh if state is None else _merge(fresh, state, episode_start)
        observed = self.model.observe(obs["glimpse"], obs["location"], base)
        # With a first move (DRAM), the reset glimpse is empty: the state stays the initial one.
        state = _merge(base, observed, episode_start) if self.task.first_move else observed
        mean = self.model.location_mean(state)
        if not deterministic:
            noise = torch.randn(mean.shape, generator=self.generator, device=self.device)
            mean = mean + self.location_std * noise
        return mean, self.model.classify(state).argmax(-1), state


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


def policy_player(policy: Any, deterministic: bool = True) -> Player:
    """The :class:`agents.evaluation.Player` of any object with SB3's ``predict``: it plays the
    env step by step through ``predict`` on the public observation (with ``canvas`` added for a
    policy that ``observes_canvas``) and answers with the labels it names on the scored steps,
    as one-hot logits."""
    observes_canvas = getattr(policy, "observes_canvas", False)

    def play(env, first, sample, noise):
        obs, _ = first
        task = env.config
        n, scored = env.num_envs, set(task.answer_steps)
        as_numpy = not isinstance(obs["location"], torch.Tensor)
        canvases = env.canvases.clone()
        if as_numpy:
            canvases = canvases.cpu().numpy()
        state, start = None, np.ones(n, dtype=bool)
        named, path = [], [torch.as_tensor(np.asarray(obs["location"]))]
        for step in range(1, task.episode_length + 1):
            if observes_canvas:
                obs = {**obs, "canvas": canvases}
            action, state = policy.predict(obs, state, start, deterministic)
            if step in scored:
                label = action["label"]
                label = label.cpu() if isinstance(label, torch.Tensor) else np.asarray(label)
                named.append(torch.as_tensor(label, dtype=torch.int64).reshape(n))
            obs, _, _, _, _ = env.step(action)
            start = np.zeros(n, dtype=bool)
            if step < task.episode_length:
                path.append(torch.as_tensor(np.asarray(obs["location"])))
        labels = torch.stack(named, 1).clamp(0, task.num_classes - 1)  # (N, A)
        logits = torch.nn.functional.one_hot(labels, task.num_classes).float()
        return logits, torch.stack(path, 1)

    return play


def evaluate_policy(
    policy: Any,
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
    protocol), played on the public vector env of ``env_id`` (``task``: its overrides), by
    :func:`agents.evaluation.evaluate`, the evaluation of every agent in this project.

    Only observations and the labels the policy names are read: any object with SB3's
    ``predict`` (a :class:`Policy` or your own) is scored on the zoo cards' canvases, with
    numpy observations. A policy whose ``observes_canvas`` is true also sees ``obs["canvas"]``
    (as :class:`glimpse_env.envs.wrappers.VectorCanvasObservation` adds it). An episode is
    right when every label it names is right. ``deterministic`` is passed to ``predict``; the
    result's ``mode`` is ``"policy"`` whatever it is, since only the policy knows whether it
    acted greedily.
    """
    if split not in ("valid", "test"):
        raise ValueError(f"split must be 'valid' or 'test', got {split!r}")
    settings = task_settings(env_id, **task)
    env = GlimpseVectorEnv(min(batch_size, num_canvases), output="numpy", split=split, **settings)
    played = evaluate(
        None, env, policy_player(policy, deterministic), num_canvases, eval_seed=eval_seed,
        progress=progress,
    )  # fmt: skip
    return dataclasses.replace(played, mode=POLICY_MODE)
