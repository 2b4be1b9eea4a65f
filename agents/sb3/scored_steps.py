"""Policies whose action log-probability counts only the parts of an action the env reads.

The SB3 baselines act with ``MultiDiscrete([grid, grid, classes])``: the next fixation and a
label, at every step. The env reads the label only on the scored steps (the last one for a single
digit) and the fixation only before the last step. SB3's ``MultiCategoricalDistribution`` sums the
log-probabilities of all three parts at every step, so PPO's policy gradient pushes the label
head on every step with an advantage that step's label had no part in (noise), and the entropy
bonus spreads the label distribution on steps where it does not matter.

:class:`ScoredStepDistribution` weights each part's log-probability and entropy per sample: the
fixation counts on the steps that are followed by a glimpse (all but the last), the label only
on the steps that score it. The policies below set those weights from the observation's
``"step"`` (steps taken over the episode length; the newest value of a frame stack) before every
``forward`` (rollouts) and ``evaluate_actions`` (the PPO loss). Sampling and the deterministic
action are unchanged. Turned on by ``policy_kwargs["label_at_scored_steps"] = True``
(:func:`agents.sb3.algorithms.make_model`; ``--label-at-scored-steps`` on the command line).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from sb3_contrib.common.recurrent.policies import RecurrentMultiInputActorCriticPolicy
from stable_baselines3.common.distributions import MultiCategoricalDistribution
from stable_baselines3.common.policies import MultiInputActorCriticPolicy

#: The ``policy_kwargs`` switch.
SWITCH = "label_at_scored_steps"


class ScoredStepDistribution(MultiCategoricalDistribution):
    """``MultiCategoricalDistribution`` whose log-probability and entropy weight each action
    part per sample: ``sum_j weights[:, j] * part_j``. With ``weights`` None it is SB3's."""

    def __init__(self, action_dims: list[int]) -> None:
        super().__init__(action_dims)
        #: ``(N, parts)`` float weights of the current batch, or None.
        self.weights: torch.Tensor | None = None

    def _weighted(self, parts: torch.Tensor) -> torch.Tensor:
        if self.weights is None:
            return parts.sum(dim=1)
        if self.weights.shape != parts.shape:
            raise ValueError(f"weights {tuple(self.weights.shape)} != parts {tuple(parts.shape)}")
        return (parts * self.weights).sum(dim=1)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        parts = [d.log_prob(a) for d, a in zip(self.distribution, actions.unbind(1), strict=True)]
        return self._weighted(torch.stack(parts, dim=1))

    def entropy(self) -> torch.Tensor:
        return self._weighted(torch.stack([d.entropy() for d in self.distribution], dim=1))


def part_weights(
    step: torch.Tensor, answer_steps: Sequence[int], episode_length: int, num_parts: int
) -> torch.Tensor:
    """``(N, num_parts)`` weights of the action taken on each observation.

    Args:
        step: ``(N, S)`` the observation's ``"step"`` (steps taken / ``episode_length``); with a
            frame stack the newest value is the last column.
        answer_steps: the 1-based step numbers whose label the env scores.
        episode_length: steps per episode.
        num_parts: action parts; the last is the label, the others place the next glimpse.

    The action on an observation after ``t`` steps is step ``t + 1``: its fixation counts if
    ``t + 1 < episode_length``, its label if ``t + 1`` is an answer step.
    """
    taken = torch.round(step[:, -1] * episode_length).long()
    upcoming = taken + 1
    scored = torch.zeros_like(upcoming, dtype=torch.bool)
    for answer in answer_steps:
        scored |= upcoming == answer
    moves = (upcoming < episode_length).to(step.dtype)
    weights = moves.unsqueeze(1).repeat(1, num_parts)
    weights[:, -1] = scored.to(step.dtype)
    return weights


class _ScoredSteps:
    """Mixin: replaces the action distribution and sets its weights around the two calls that
    compute log-probabilities of taken actions."""

    def _install(self, answer_steps: Sequence[int], episode_length: int) -> None:
        if not isinstance(self.action_dist, MultiCategoricalDistribution):
            raise ValueError(
                f"{SWITCH} needs MultiDiscrete actions (location grid + label), got "
                f"{type(self.action_dist).__name__}"
            )
        self.answer_steps = [int(a) for a in answer_steps]
        self.episode_length = int(episode_length)
        self.action_dist = ScoredStepDistribution(list(self.action_dist.action_dims))

    def _with_weights(self, obs: dict[str, torch.Tensor], call: Any) -> Any:
        dims = len(self.action_dist.action_dims)
        self.action_dist.weights = part_weights(
            obs["step"].float(), self.answer_steps, self.episode_length, dims
        )
        try:
            return call()
        finally:
            self.action_dist.weights = None


class ScoredStepLstmPolicy(_ScoredSteps, RecurrentMultiInputActorCriticPolicy):
    """RecurrentPPO's ``MultiInputLstmPolicy`` with :class:`ScoredStepDistribution`."""

    def __init__(self, *args: Any, answer_steps: Sequence[int], episode_length: int, **kwargs):
        super().__init__(*args, **kwargs)
        self._install(answer_steps, episode_length)

    def forward(self, obs, lstm_states, episode_starts, deterministic=False):
        parent = super().forward
        return self._with_weights(
            obs, lambda: parent(obs, lstm_states, episode_starts, deterministic)
        )

    def evaluate_actions(self, obs, actions, lstm_states, episode_starts):
        parent = super().evaluate_actions
        return self._with_weights(obs, lambda: parent(obs, actions, lstm_states, episode_starts))


class ScoredStepPolicy(_ScoredSteps, MultiInputActorCriticPolicy):
    """PPO's ``MultiInputPolicy`` with :class:`ScoredStepDistribution`."""

    def __init__(self, *args: Any, answer_steps: Sequence[int], episode_length: int, **kwargs):
        super().__init__(*args, **kwargs)
        self._install(answer_steps, episode_length)

    def forward(self, obs, deterministic=False):
        parent = super().forward
        return self._with_weights(obs, lambda: parent(obs, deterministic))

    def evaluate_actions(self, obs, actions):
        parent = super().evaluate_actions
        return self._with_weights(obs, lambda: parent(obs, actions))
