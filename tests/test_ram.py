"""RAM model, rollout and hybrid loss: shapes, signs, and where each gradient goes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from agents.models.ram import RAM, RAMSizes
from agents.training.hybrid_loss import hybrid_loss
from agents.training.rollout import Rollout, rollout
from glimpse_env.envs.vector import GlimpseVectorEnv

SMALL = RAMSizes(glimpse_hidden=16, location_hidden=8, hidden=32)


def _env(n: int = 8, **task) -> GlimpseVectorEnv:
    return GlimpseVectorEnv(n, output="torch", **{"num_glimpses": 4, **task})


def _episodes(model: RAM, env: GlimpseVectorEnv, seed: int = 0) -> Rollout:
    first = env.reset(seed=seed)
    generator = torch.Generator().manual_seed(seed)
    return rollout(model, env, first, 0.11, generator=generator)


@pytest.mark.parametrize("core", ["lstm", "rnn"])
def test_rollout_shapes_and_rewards(core):
    env = _env()
    model = RAM((3, 12, 12), RAMSizes(16, 8, 32, core))
    episodes = _episodes(model, env)
    n, t = 8, 4
    assert episodes.logits.shape == (n, 10)
    assert episodes.log_probs.shape == (n, t - 1)
    assert episodes.baselines.shape == (n, t - 1)
    assert episodes.locations.shape == (n, t, 2)
    assert episodes.means.shape == (n, t - 1, 2)
    assert torch.equal(episodes.locations[:, 0], torch.zeros(n, 2))  # initial location: centre
    assert float(episodes.locations.abs().max()) <= 1.0
    # The env's reward is exactly "the named class is the true label".
    expected = (episodes.predictions == episodes.labels).float()
    assert torch.equal(episodes.rewards, expected)


def test_greedy_rollout_follows_the_policy_mean():
    env = _env()
    model = RAM((3, 12, 12), SMALL)
    first = env.reset(seed=3)
    episodes = rollout(model, env, first, 0.11, sample=False)
    assert torch.count_nonzero(episodes.log_probs) == 0
    assert torch.equal(episodes.locations[:, 1:], episodes.means.detach().clamp(-1, 1))
    # Replaying the model on the recorded glimpses gives the same second location.
    obs, _ = env.reset(seed=3)
    state = model.observe(obs["glimpse"], obs["location"], model.initial_state(obs))
    assert torch.allclose(episodes.locations[:, 1], model.location_mean(state).clamp(-1, 1))


def test_hybrid_loss_terms_have_the_right_signs():
    n, t = 4, 3
    logits = torch.zeros(n, 10)
    labels = torch.tensor([0, 1, 2, 3])
    rewards = torch.tensor([1.0, 0.0, 1.0, 0.0])
    baselines = torch.full((n, t), 0.5)
    log_probs = torch.full((n, t), -1.0)
    means = torch.zeros(n, t, 2)
    episodes = Rollout.single(
        logits, log_probs, baselines, means, torch.zeros(n, t + 1, 2), rewards, labels,
        torch.zeros(n, 4),
    )  # fmt: skip
    loss = hybrid_loss(episodes)
    assert loss.classification.item() == pytest.approx(np.log(10))  # uniform logits
    assert loss.baseline.item() == pytest.approx(0.25)  # (0.5 - R)^2 with R in {0, 1}
    # advantage +0.5 (rewarded) and -0.5 (not): -sum_t(-1 * 0.5) = 1.5 and -1.5; mean 0.
    assert loss.reinforce.item() == pytest.approx(0.0)
    # A rewarded episode with a likely path has negative REINFORCE loss (descending it makes
    # the path likelier); an unrewarded one positive.
    rewarded = Rollout.single(
        logits[:1], log_probs[:1], baselines[:1], means[:1], torch.zeros(1, t + 1, 2), rewards[:1],
        labels[:1], torch.zeros(1, 4),
    )  # fmt: skip
    assert hybrid_loss(rewarded).reinforce.item() == pytest.approx(1.5)
    lp = log_probs[:1].clone().requires_grad_()
    hybrid_loss(dataclasses.replace(rewarded, log_probs=lp)).reinforce.backward()
    assert bool((lp.grad < 0).all())  # gradient descent raises the rewarded log-probs
    weighted = hybrid_loss(episodes, reinforce_weight=2.0, baseline_weight=3.0)
    expected = loss.classification + 2.0 * loss.reinforce + 3.0 * loss.baseline
    assert weighted.total.item() == pytest.approx(expected.item())


def _grads(model: RAM, term: torch.Tensor) -> dict[str, bool]:
    """Which sub-networks ``term`` sends a non-zero gradient to."""
    model.zero_grad(set_to_none=True)
    term.backward(retain_graph=True)
    parts = {
        "glimpse_net": model.glimpse_net,
        "core": model.core,
        "location_head": model.location_head,
        "classifier": model.classifier,
        "baseline_head": model.baseline_head,
    }
    return {
        name: any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in part.parameters())
        for name, part in parts.items()
    }


@pytest.mark.parametrize("trains_core", [False, True])
def test_gradients_reach_only_what_they_should(trains_core):
    env = _env(16)
    model = RAM((3, 12, 12), SMALL, reinforce_trains_core=trains_core)
    loss = hybrid_loss(_episodes(model, env))
    assert _grads(model, loss.reinforce) == {
        "glimpse_net": trains_core,
        "core": trains_core,
        "location_head": True,
        "classifier": False,
        "baseline_head": False,
    }
    assert _grads(model, loss.baseline) == {
        "glimpse_net": False,
        "core": False,
        "location_head": False,
        "classifier": False,
        "baseline_head": True,
    }
    assert _grads(model, loss.classification) == {
        "glimpse_net": True,
        "core": True,
        "location_head": False,
        "classifier": True,
        "baseline_head": False,
    }


def test_unknown_core_is_rejected():
    with pytest.raises(ValueError, match="core must be one of"):
        RAM((3, 12, 12), RAMSizes(core="gru"))


def test_rollout_needs_torch_output():
    env = GlimpseVectorEnv(2, num_glimpses=2)
    with pytest.raises(ValueError, match='output="torch"'):
        rollout(RAM((3, 12, 12), SMALL), env, env.reset(seed=0), 0.11)
