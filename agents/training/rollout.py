"""Running attention agents on the native vector env: one batch of episodes, step by step.

Every REINFORCE-trained agent (RAM, DRAM) implements :class:`AttentionAgent`; :func:`rollout`
plays ``N`` episodes of a :class:`glimpse_env.GlimpseVectorEnv` (``output="torch"``) with it and
keeps what the hybrid loss and the evaluation need. The environment is the one users get from
``gym.make_vec``: observations, rewards and the true label all come from it.

Episode timing (``T = num_glimpses``, one digit): the reset observation is glimpse 1 at the
initial location; after glimpse ``t < T`` the agent emits the location of glimpse ``t + 1``;
after glimpse ``T`` it names the class, and the environment's reward (1 if right) arrives with
that step. So ``T - 1`` locations are chosen per episode, each with a log-probability and a
baseline. With ``initial_location="agent"`` the agent also chooses glimpse 1, from its initial
state (DRAM: the context), on a first step that only moves. With ``D`` digits named in sequence
it names digit ``j`` after glimpse ``j * T``; each location choice is then weighed by the reward
still to come after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch

from agents.evaluation import CanvasNoise
from glimpse_env.envs.vector import GlimpseVectorEnv
from glimpse_env.evaluation import info_answers


class AttentionAgent(Protocol):
    """What :func:`rollout` needs from a model; the state is any object the model defines.

    - ``initial_state(observation)``: the state before the first glimpse; ``observation`` is
      the reset observation (``"glimpse"`` ``(N, k, g, g)``, ``"location"`` ``(N, 2)``, and
      ``"context"`` when the task has one), so a model may read a coarse view there (DRAM).
    - ``observe(glimpse, location, state)``: take in one glimpse, return the new state.
    - ``location_mean(state)``: ``(N, 2)`` mean of the next location, in (-1, 1).
    - ``baseline(state)``: ``(N,)`` predicted reward (gradient only from its MSE).
    - ``classify(state)``: ``(N, C)`` class logits (``C`` the task's ``num_classes``).
    """

    def initial_state(self, observation: dict[str, torch.Tensor]) -> Any: ...

    def observe(self, glimpse: torch.Tensor, location: torch.Tensor, state: Any) -> Any: ...

    def location_mean(self, state: Any) -> torch.Tensor: ...

    def baseline(self, state: Any) -> torch.Tensor: ...

    def classify(self, state: Any) -> torch.Tensor: ...


@dataclass
class Rollout:
    """One batch of ``N`` finished episodes.

    ``K`` is the number of location choices per episode: ``T - 1`` for ``T`` glimpses from a
    fixed first location, ``T`` when the agent chooses the first one too
    (``initial_location="agent"``). ``A`` is the number of answers (1; ``D`` for ``D`` digits
    named in sequence).

    Attributes:
        answer_logits: ``(N, A, C)`` class logits of each answer, in order.
        log_probs: ``(N, K)`` log-density of each sampled location (sum over x and y);
            zeros for greedy rollouts.
        baselines: ``(N, K)`` baseline value at each location choice.
        means: ``(N, K, 2)`` the policy's mean location at each choice (differentiable; for
            supervised location losses).
        locations: ``(N, T, 2)`` normalised (x, y) where each glimpse was taken (after clipping).
        rewards: ``(N,)`` the episode's total reward (answers named right).
        returns: ``(N, K)`` reward still to come after each choice (what REINFORCE weighs it by;
            every choice's is ``rewards`` when only the last step is scored).
        answers: ``(N, A)`` the true answers (privileged information).
        bboxes: ``(N, 4)`` the first digit's box in pixels (``(N, D, 4)`` with ``D`` digits).
        choice_digits: ``(K,)`` int64, which digit's glimpses each choice moves to (all 0 for
            single-digit tasks).
    """

    answer_logits: torch.Tensor
    log_probs: torch.Tensor
    baselines: torch.Tensor
    means: torch.Tensor
    locations: torch.Tensor
    rewards: torch.Tensor
    returns: torch.Tensor
    answers: torch.Tensor
    bboxes: torch.Tensor
    choice_digits: torch.Tensor

    @classmethod
    def single(
        cls,
        logits: torch.Tensor,
        log_probs: torch.Tensor,
        baselines: torch.Tensor,
        means: torch.Tensor,
        locations: torch.Tensor,
        rewards: torch.Tensor,
        labels: torch.Tensor,
        bboxes: torch.Tensor,
    ) -> Rollout:
        """The rollout of single-answer episodes from ``(N, C)`` logits, ``(N,)`` final rewards
        and ``(N,)`` labels: every choice's return is the episode's reward."""
        choices = log_probs.shape[1]
        return cls(
            answer_logits=logits.unsqueeze(1),
            log_probs=log_probs,
            baselines=baselines,
            means=means,
            locations=locations,
            rewards=rewards,
            returns=rewards.unsqueeze(1).expand(-1, choices),
            answers=labels.unsqueeze(1),
            bboxes=bboxes,
            choice_digits=torch.zeros(choices, dtype=torch.int64, device=logits.device),
        )

    @property
    def logits(self) -> torch.Tensor:
        """``(N, C)`` logits of the last answer (the only one in single-digit tasks)."""
        return self.answer_logits[:, -1]

    @property
    def labels(self) -> torch.Tensor:
        """``(N,)`` the true last answer (the digit's class in single-digit tasks)."""
        return self.answers[:, -1]

    @property
    def predictions(self) -> torch.Tensor:
        """``(N,)`` the last answer the agent named."""
        return self.logits.argmax(-1)

    @property
    def correct(self) -> torch.Tensor:
        """``(N,)`` bool: every answer of the episode right."""
        return (self.answer_logits.argmax(-1) == self.answers).all(1)


def rollout(
    agent: AttentionAgent,
    env: GlimpseVectorEnv,
    first: tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]],
    location_std: float,
    sample: bool = True,
    generator: torch.Generator | CanvasNoise | None = None,
) -> Rollout:
    """Play the episodes that ``env`` has just been reset to, to the end.

    At each step the agent first takes in the newest glimpse (except the empty one of a reset
    with ``initial_location="agent"``), then names a class if the step is scored, then chooses
    where to look next (except on the last step).

    Args:
        agent: the model.
        env: a native vector env with ``output="torch"``, just reset.
        first: the ``(observation, info)`` that reset returned.
        location_std: standard deviation of the Gaussian location policy (normalised units).
        sample: draw locations from the policy (training, Monte-Carlo evaluation) or take its
            mean (greedy evaluation).
        generator: source of the location noise: a torch generator on the env's device
            (training), or :class:`CanvasNoise` (evaluation: per-canvas noise).

    Returns:
        The episodes' :class:`Rollout`.
    """
    if env.output != "torch":
        raise ValueError('rollout needs GlimpseVectorEnv(output="torch")')
    observation, info = first
    task = env.config
    # The privileged targets, from the reset's info (its own tensors, not views of env state).
    answers = info_answers(info)
    bboxes = info["bbox"] if task.num_digits == 1 else info["bboxes"]
    n, length, device = env.num_envs, task.episode_length, env.device
    scored = set(task.answer_steps)
    state = agent.initial_state(observation)
    log_probs, baselines, means, logits, rewards = [], [], [], [], []
    locations = [] if task.first_move else [observation["location"]]
    for step in range(1, length + 1):
        if step > 1 or not task.first_move:
            state = agent.observe(observation["glimpse"], observation["location"], state)
        label = torch.zeros(n, dtype=torch.int64, device=device)
        if step in scored:
            logits.append(agent.classify(state))
            label = logits[-1].argmax(-1).detach()
        if step < length:
            mean = agent.location_mean(state)
            means.append(mean)
            if sample:
                if isinstance(generator, CanvasNoise):
                    noise = generator.normal(len(means) - 1, device)
                else:
                    noise = torch.randn(mean.shape, generator=generator, device=device)
                chosen = (mean + location_std * noise).detach()
                normal = torch.distributions.Normal(mean, location_std)
                log_probs.append(normal.log_prob(chosen).sum(-1))
            else:
                chosen = mean.detach()
                log_probs.append(torch.zeros(n, device=device))
            baselines.append(agent.baseline(state))
            chosen = chosen.clamp(-1.0, 1.0)
        else:
            chosen = observation["location"]
        observation, reward, terminated, _, _ = env.step({"location": chosen, "label": label})
        rewards.append(reward)
        if step < length:
            locations.append(observation["location"])
    if not bool(terminated.all()):
        raise RuntimeError("episodes did not end after their last step; was env reset first?")
    rewards_ = torch.stack(rewards, 1)  # (N, length): reward of each step
    # The choice made at step s moves the gaze after that step's answer: it earns what follows.
    to_go = rewards_.flip(1).cumsum(1).flip(1)  # (N, length): reward from step s on
    choices = len(means)
    glimpse_of_choice = torch.arange(choices, device=device) + (0 if task.first_move else 1)
    digits = (glimpse_of_choice // task.num_glimpses).clamp(max=task.num_digits - 1)
    empty = torch.zeros(n, 0, device=device)
    return Rollout(
        answer_logits=torch.stack(logits, 1),
        log_probs=torch.stack(log_probs, 1) if log_probs else empty,
        baselines=torch.stack(baselines, 1) if baselines else empty,
        means=torch.stack(means, 1) if means else torch.zeros(n, 0, 2, device=device),
        locations=torch.stack(locations, 1),
        rewards=rewards_.sum(1),
        returns=to_go[:, 1 : choices + 1],
        answers=answers,
        bboxes=bboxes,
        choice_digits=digits,
    )
