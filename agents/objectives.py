"""How each agent family learns from, and answers on, a batch of episodes.

The trainer (:mod:`agents.trainer`) owns everything common: environments, optimiser, schedule,
checkpoints, logging, evaluation. What differs between agent families is two functions:

- ``loss(trainer, first)``: the training loss of the batch the training env was just reset to
  (``first`` is the reset's ``(observation, info)``), and the scalars to log;
- ``player(model, config)``: how the agent answers in evaluation (:class:`agents.evaluate.Player`).

RAM and DRAM share :class:`ReinforceObjective` (the hybrid loss, plus L-DRAM's location loss);
EDRAM has :class:`EDRAMObjective` (backpropagation through the spatial transformer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import nn

from agents.config import TrainConfig
from agents.edram import edram_loss
from agents.evaluate import Player, reinforce_player
from agents.hybrid_loss import hybrid_loss
from agents.location_loss import digit_centres, labelled, location_loss, location_weight
from agents.rollout import rollout
from glimpse_env.data.canvas import bboxes_to_affine

if TYPE_CHECKING:
    from agents.trainer import Trainer

Reset = tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]


class Objective(Protocol):
    #: Whether the agent's paths are sampled (so Monte-Carlo evaluation differs from greedy).
    stochastic: bool

    def loss(self, trainer: Trainer, first: Reset) -> tuple[torch.Tensor, dict[str, float]]: ...

    def player(self, model: nn.Module, config: TrainConfig) -> Player: ...


class ReinforceObjective:
    """Episodes played on the env with locations sampled from the policy; loss = the hybrid loss
    (:func:`agents.hybrid_loss.hybrid_loss`), plus the supervised location loss when
    ``config.location_loss_weight > 0`` (L-DRAM, :mod:`agents.location_loss`)."""

    stochastic = True

    def loss(self, trainer: Trainer, first: Reset) -> tuple[torch.Tensor, dict[str, Any]]:
        config, env = trainer.config, trainer.env
        episodes = rollout(
            trainer.model, env, first, config.location_std, generator=trainer.generator
        )
        loss = hybrid_loss(episodes, config.reinforce_weight, config.baseline_weight)
        scalars: dict[str, float] = {}
        if config.location_loss_weight > 0:
            weight = location_weight(
                trainer.update, config.location_loss_weight, config.location_loss_half_life
            )
            state = env.episodes  # still on the episodes just played
            mask = labelled(state.sources, config.location_labels, state.source.num_sources)
            centres = digit_centres(episodes.bboxes, *state.canvas_shape)
            loss = loss.with_location(location_loss(episodes.means, centres, mask), weight)
            scalars["train/location_weight"] = weight
            scalars["train/location_labelled"] = float(mask.float().mean())
        baselines = episodes.baselines.detach()
        scalars.update(
            {
                **loss.scalars(),
                "train/reward": float(episodes.rewards.mean()),
                "train/accuracy": float((episodes.predictions == episodes.labels).float().mean()),
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
    affine (:func:`agents.edram.edram_loss`). It is deterministic, so Monte-Carlo evaluation
    equals greedy evaluation (``stochastic = False``: the trainer does not repeat it)."""

    stochastic = False

    def loss(self, trainer: Trainer, first: Reset) -> tuple[torch.Tensor, dict[str, Any]]:
        env, config = trainer.env, trainer.config
        _, info = first
        height, width = env.episodes.canvas_shape
        target = torch.from_numpy(bboxes_to_affine(info["bbox"], height, width)).to(env.device)
        output = trainer.model(env.canvases)
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
        def play(env, first, sample, generator):
            output = model(env.canvases)
            return output.logits[:, -1], output.thetas[:, :, [2, 5]]  # glimpse centres (x, y)

        return play
