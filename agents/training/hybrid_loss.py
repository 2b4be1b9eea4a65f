"""The hybrid loss of RAM / DRAM: supervised classification plus REINFORCE for the locations.

``loss = mean_n( sum_a cross_entropy(logits_a, answer_a) )
       + reinforce_weight * mean_n( -sum_t log pi(l_t) * (R_t - b_t) )
       + baseline_weight  * mean_{n,t}( (b_t - R_t)^2 )``

``R_t`` is the reward still to come after location choice ``t``. With one answer (the
single-digit tasks, the sum) that is the episode's reward (1 if the classification was right,
else 0), the same for every choice; with several digits named in sequence a choice is credited
only with the digits named after it. The cross-entropy sums over the answers. The advantage
``R_t - b_t`` is detached, so the REINFORCE term trains only what produced the location means,
and the baseline is trained only by its MSE.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from agents.training.rollout import Rollout


@dataclass
class HybridLoss:
    """The loss terms of one batch (scalars; ``total`` carries the gradient)."""

    total: torch.Tensor
    classification: torch.Tensor
    reinforce: torch.Tensor
    baseline: torch.Tensor
    location: torch.Tensor | None = None

    def with_location(self, term: torch.Tensor, weight: float) -> HybridLoss:
        """This loss plus ``weight * term`` (L-DRAM's supervised location loss)."""
        return dataclasses.replace(self, total=self.total + weight * term, location=term)

    def scalars(self) -> dict[str, float]:
        """The terms as floats, for logging."""
        terms = {
            "loss/total": self.total,
            "loss/classification": self.classification,
            "loss/reinforce": self.reinforce,
            "loss/baseline_mse": self.baseline,
        }
        if self.location is not None:
            terms["loss/location"] = self.location
        return {tag: float(value.detach()) for tag, value in terms.items()}


def hybrid_loss(
    episodes: Rollout, reinforce_weight: float = 1.0, baseline_weight: float = 1.0
) -> HybridLoss:
    """The hybrid loss of a batch of sampled episodes (see the module docstring)."""
    n, answers, classes = episodes.answer_logits.shape
    classification = (
        F.cross_entropy(
            episodes.answer_logits.reshape(n * answers, classes),
            episodes.answers.reshape(-1),
            reduction="sum",
        )
        / n
    )
    returns = episodes.returns  # (N, K)
    advantage = (returns - episodes.baselines).detach()
    reinforce = -(episodes.log_probs * advantage).sum(1).mean()
    if episodes.baselines.numel():
        baseline = F.mse_loss(episodes.baselines, returns)
    else:  # one-glimpse episodes choose no location
        baseline = episodes.baselines.sum()
    total = classification + reinforce_weight * reinforce + baseline_weight * baseline
    return HybridLoss(total, classification, reinforce, baseline)
