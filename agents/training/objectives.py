"""How each agent family learns from, and answers on, a batch of episodes.

The trainer (:mod:`agents.training.trainer`) owns everything common: environments, optimiser,
schedule, checkpoints, logging, evaluation. What differs between agent families is two
functions:

- ``loss(batch)``: the training loss of the batch the training env was just reset to (a
  :class:`TrainingBatch`: the model, the env, the reset's ``(observation, info)``, the config,
  the update number and the policy-noise generator; no trainer object), and the scalars to log;
- ``player(model, config)``: how the agent answers in evaluation
  (:class:`agents.evaluation.Player`).

RAM and DRAM share :class:`ReinforceObjective` (the hybrid loss, plus L-DRAM's location loss);
EDRAM has :class:`EDRAMObjective` (backpropagation through the spatial transformer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from agents.evaluation import Player
from agents.models.edram import edram_loss
from agents.training.config import TrainConfig
from agents.training.hybrid_loss import hybrid_loss
from agents.training.location_loss import digit_centres, labelled, location_loss, location_weight
from agents.training.rollout import AttentionAgent, rollout
from glimpse_env.envs.vector import GlimpseVectorEnv

Reset = tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]


@dataclass
class TrainingBatch:
    """Everything an objective may read to compute the loss of one update.

    Attributes:
        model: the agent being trained.
        env: the training vector env (``output="torch"``), just reset to this update's canvases.
        first: what that reset returned, ``(observation, info)``.
        config: the run's configuration.
        update: the number of updates already taken (for decaying loss weights).
        generator: the policy-noise generator (on the env's device).
    """

    model: nn.Module
    env: GlimpseVectorEnv
    first: Reset
    config: TrainConfig
    update: int
    generator: torch.Generator


class Objective(Protocol):
    #: Whether the agent's paths are sampled (so Monte-Carlo evaluation differs from greedy).
    stochastic: bool

    def loss(self, batch: TrainingBatch) -> tuple[torch.Tensor, dict[str, float]]: ...

    def player(self, model: nn.Module, config: TrainConfig) -> Player: ...


def reinforce_player(agent: AttentionAgent, location_std: float) -> Player:
    """The :class:`Player` of a REINFORCE-trained agent: :func:`agents.training.rollout.rollout`."""

    def play(env, first, sample, noise):
        episodes = rollout(agent, env, first, location_std, sample=sample, generator=noise)
        return episodes.answer_logits, episodes.locations

    return play


class ReinforceObjective:
    """Episodes played on the env with locations sampled from the policy; loss = the hybrid loss
    (:func:`agents.training.hybrid_loss.hybrid_loss`), plus the supervised location loss when
    ``config.location_loss_weight > 0`` (L-DRAM, :mod:`agents.training.location_loss`)."""

    stochastic = True

    def loss(self, batch: TrainingBatch) -> tuple[torch.Tensor, dict[str, Any]]:
        config, env = batch.config, batch.env
        episodes = rollout(
            batch.model, env, batch.first, config.location_std, generator=batch.generator
        )
        loss = hybrid_loss(episodes, config.reinforce_weight, config.baseline_weight)
        scalars: dict[str, float] = {}
        if config.location_loss_weight > 0:
            weight = location_weight(
                batch.update, config.location_loss_weight, config.location_loss_half_life
            )
            rows, num_sources = env.source_rows()  # still those of the episodes just played
            mask = labelled(rows, config.location_labels, num_sources)
            centres = digit_centres(episodes.bboxes, *env.canvas_shape)
            if centres.dim() == 3:  # several digits: each choice is pulled to its own digit
                centres = centres[:, episodes.choice_digits]
            loss = loss.with_location(location_loss(episodes.means, centres, mask), weight)
            scalars["train/location_weight"] = weight
            scalars["train/location_labelled"] = float(mask.float().mean())
        baselines = episodes.baselines.detach()
        scalars.update(
            {
                **loss.scalars(),
                "train/reward": float(episodes.rewards.mean()),
                "train/accuracy": float(episodes.correct.float().mean()),
                "train/baseline": float(baselines.mean()) if baselines.numel() else 0.0,
                "train/location_std": config.location_std,
            }
        )
        return loss.total, scalars

    def player(self, model: nn.Module, config: TrainConfig) -> Player:
        return reinforce_player(model, config.location_std)


class EDRAMObjective:
    """EDRAM learns by backpropagation on the canvases the env was reset to: cross-entropy at
    every step plus the weighted regression of its affine parameters to the digit's ground-truth
    affine (:func:`agents.models.edram.edram_loss`; the target is
    :meth:`glimpse_env.envs.vector.GlimpseVectorEnv.target_affine`). It is deterministic, so
    Monte-Carlo evaluation equals greedy evaluation (``stochastic = False``: the trainer does
    not repeat it)."""

    stochastic = False

    def loss(self, batch: TrainingBatch) -> tuple[torch.Tensor, dict[str, Any]]:
        env, config = batch.env, batch.config
        _, info = batch.first
        target = env.target_affine()[:, 0]  # an HDF5 file's locations, exactly
        output = batch.model(env.canvases)
        total, classification, location = edram_loss(
            output, info["label"], target, config.affine_loss_weight
        )
        correct = (output.logits[:, -1].argmax(-1) == info["label"]).float().mean()
        return total, {
            "loss/total": float(total.detach()),
            "loss/classification": float(classification.detach()),
            "loss/affine": float(location.detach()),
            "train/accuracy": float(correct),
        }

    def player(self, model: nn.Module, config: TrainConfig) -> Player:
        def play(env, first, sample, noise):
            output = model(env.canvases)
            # answer, glimpse centres (x, y), and the windows themselves
            return output.logits[:, -1], output.thetas[:, :, [2, 5]], output.thetas

        return play


#: How each agent family learns (:mod:`agents.training.objectives`).
OBJECTIVES: dict[str, Objective] = {
    "ram": ReinforceObjective(),
    "dram": ReinforceObjective(),
    "edram": EDRAMObjective(),
}
