"""Running attention agents on the native vector env: one batch of episodes, step by step.

Every REINFORCE-trained agent (RAM, DRAM) implements :class:`AttentionAgent`; :func:`rollout`
plays ``N`` episodes of a :class:`glimpse_env.GlimpseVectorEnv` (``output="torch"``) with it and
keeps what the hybrid loss and the evaluation need. The environment is the one users get from
``gym.make_vec``: observations, rewards and the true label all come from it.

Episode timing (``T = num_glimpses``): the reset observation is glimpse 1 at the initial
location; after glimpse ``t < T`` the agent emits the location of glimpse ``t + 1``; after
glimpse ``T`` it names the class, and the environment's reward (1 if right) arrives with that
step. So ``T - 1`` locations are chosen per episode, each with a log-probability and a baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch

from glimpse_env.envs.vector import GlimpseVectorEnv


class AttentionAgent(Protocol):
    """What :func:`rollout` needs from a model; the state is any object the model defines.

    - ``initial_state(observation)``: the state before the first glimpse; ``observation`` is
      the reset observation (``"glimpse"`` ``(N, k, g, g)``, ``"location"`` ``(N, 2)``, and
      ``"context"`` when the task has one), so a model may read a coarse view there (DRAM).
    - ``observe(glimpse, location, state)``: take in one glimpse, return the new state.
    - ``location_mean(state)``: ``(N, 2)`` mean of the next location, in (-1, 1).
    - ``baseline(state)``: ``(N,)`` predicted reward (gradient only from its MSE).
    - ``classify(state)``: ``(N, 10)`` class logits.
    """

    def initial_state(self, observation: dict[str, torch.Tensor]) -> Any: ...

    def observe(self, glimpse: torch.Tensor, location: torch.Tensor, state: Any) -> Any: ...

    def location_mean(self, state: Any) -> torch.Tensor: ...

    def baseline(self, state: Any) -> torch.Tensor: ...

    def classify(self, state: Any) -> torch.Tensor: ...


@dataclass
class Rollout:
    """One batch of ``N`` finished episodes of ``T`` glimpses.

    Attributes:
        logits: ``(N, 10)`` class logits after the last glimpse.
        log_probs: ``(N, T-1)`` log-density of each sampled location (sum over x and y);
            zeros for greedy rollouts.
        baselines: ``(N, T-1)`` baseline value at each location choice.
        means: ``(N, T-1, 2)`` the policy's mean location at each choice (differentiable; for
            supervised location losses).
        locations: ``(N, T, 2)`` normalised (x, y) where each glimpse was taken (after clipping).
        rewards: ``(N,)`` the environment's final reward (1.0 if the named class was right).
        labels: ``(N,)`` true classes (``info["label"]``, privileged information).
        bboxes: ``(N, 4)`` digit boxes in pixels (``info["bbox"]``).
    """

    logits: torch.Tensor
    log_probs: torch.Tensor
    baselines: torch.Tensor
    means: torch.Tensor
    locations: torch.Tensor
    rewards: torch.Tensor
    labels: torch.Tensor
    bboxes: torch.Tensor

    @property
    def predictions(self) -> torch.Tensor:
        """``(N,)`` the classes the agent named."""
        return self.logits.argmax(-1)


def rollout(
    agent: AttentionAgent,
    env: GlimpseVectorEnv,
    first: tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]],
    location_std: float,
    sample: bool = True,
    generator: torch.Generator | None = None,
) -> Rollout:
    """Play the episodes that ``env`` has just been reset to, to the end.

    Args:
        agent: the model.
        env: a native vector env with ``output="torch"``, just reset.
        first: the ``(observation, info)`` that reset returned.
        location_std: standard deviation of the Gaussian location policy (normalised units).
        sample: draw locations from the policy (training, Monte-Carlo evaluation) or take its
            mean (greedy evaluation).
        generator: source of the location noise (on the env's device), for reproducibility.

    Returns:
        The episodes' :class:`Rollout`.
    """
    if env.output != "torch":
        raise ValueError('rollout needs GlimpseVectorEnv(output="torch")')
    observation, info = first
    labels, bboxes = info["label"], info["bbox"]
    n, steps, device = env.num_envs, env.episodes.config.num_glimpses, env.device
    state = agent.initial_state(observation)
    log_probs, baselines, means, locations = [], [], [], [observation["location"]]
    for t in range(steps):
        state = agent.observe(observation["glimpse"], observation["location"], state)
        if t == steps - 1:
            break
        mean = agent.location_mean(state)
        means.append(mean)
        if sample:
            noise = torch.randn(mean.shape, generator=generator, device=device)
            chosen = (mean + location_std * noise).detach()
            normal = torch.distributions.Normal(mean, location_std)
            log_probs.append(normal.log_prob(chosen).sum(-1))
        else:
            chosen = mean.detach()
            log_probs.append(torch.zeros(n, device=device))
        baselines.append(agent.baseline(state))
        observation, _, _, _, _ = env.step(
            {"location": chosen.clamp(-1.0, 1.0), "label": torch.zeros_like(labels)}
        )
        locations.append(observation["location"])
    logits = agent.classify(state)
    last_location = observation["location"]
    _, rewards, terminated, _, _ = env.step(
        {"location": last_location, "label": logits.argmax(-1).detach()}
    )
    if not bool(terminated.all()):
        raise RuntimeError("episodes did not end after num_glimpses steps; was env reset first?")
    empty = torch.zeros(n, 0, device=device)
    return Rollout(
        logits=logits,
        log_probs=torch.stack(log_probs, 1) if log_probs else empty,
        baselines=torch.stack(baselines, 1) if baselines else empty,
        means=torch.stack(means, 1) if means else torch.zeros(n, 0, 2, device=device),
        locations=torch.stack(locations, 1),
        rewards=rewards,
        labels=labels,
        bboxes=bboxes,
    )
