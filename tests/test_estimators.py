"""The estimators behind the numbers: REINFORCE's gradient, the rollout's log-densities, and
Monte-Carlo evaluation's probability averaging, each against a value computed by hand."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from agents.evaluation import evaluate
from agents.training.hybrid_loss import hybrid_loss
from agents.training.rollout import Rollout, rollout
from glimpse_env.envs.vector import GlimpseVectorEnv


def _bandit_rollout(mu: torch.Tensor, n: int, std: float, centre: torch.Tensor) -> Rollout:
    """``n`` one-choice episodes of a 2-D Gaussian bandit: location ``l ~ N(mu, std^2 I)``,
    reward ``R = -||l - centre||^2``, a constant baseline (the mean reward, detached)."""
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(n, 2, generator=generator, dtype=torch.float64)
    chosen = (mu + std * noise).detach()
    log_prob = torch.distributions.Normal(mu, std).log_prob(chosen).sum(-1)
    reward = -((chosen - centre) ** 2).sum(-1)
    baseline = torch.full((n, 1), float(reward.mean()), dtype=torch.float64)
    zeros = torch.zeros(n, dtype=torch.long)
    return Rollout.single(
        logits=torch.zeros(n, 10, dtype=torch.float64),
        log_probs=log_prob.unsqueeze(1),
        baselines=baseline,
        means=mu.expand(n, 1, 2),
        locations=chosen.unsqueeze(1),
        rewards=reward,
        labels=zeros,
        bboxes=torch.zeros(n, 4),
    )


def test_reinforce_gradient_matches_the_analytic_gradient_of_a_gaussian_bandit():
    # E[R] = -||mu - c||^2 - 2 std^2, so d E[R] / d mu = -2 (mu - c) = (0.8, -1.2) here.
    mu = torch.tensor([0.3, -0.2], dtype=torch.float64, requires_grad=True)
    centre = torch.tensor([0.7, -0.8], dtype=torch.float64)
    std, n = 0.11, 200_000
    loss = hybrid_loss(_bandit_rollout(mu, n, std, centre), reinforce_weight=1.0)
    (gradient,) = torch.autograd.grad(loss.reinforce, mu)
    estimate = -gradient  # the REINFORCE term is minimised: its gradient is -d E[R] / d mu
    analytic = -2 * (mu.detach() - centre)
    # Standard error of the mean of (R - b) (l - mu) / std^2, from the same samples.
    with torch.no_grad():
        episodes = _bandit_rollout(mu, n, std, centre)
        per_sample = (
            (episodes.rewards - episodes.baselines[:, 0]).unsqueeze(1)
            * (episodes.locations[:, 0] - mu)
            / std**2
        )
        standard_error = per_sample.std(0) / math.sqrt(n)
    assert torch.all(standard_error < 0.02 * analytic.abs())  # the test can tell 2% apart
    assert torch.all((estimate - analytic).abs() < 4 * standard_error), (estimate, analytic)


class _ConstantMeanAgent(nn.Module):
    """Always looks at ``mean``; for checking the rollout's bookkeeping."""

    def __init__(self, mean: tuple[float, float]) -> None:
        super().__init__()
        self.mean = nn.Parameter(torch.tensor(mean))

    def initial_state(self, observation):
        return torch.zeros(observation["location"].shape[0], 1)

    def observe(self, glimpse, location, state):
        return state

    def location_mean(self, state):
        return self.mean.expand(state.shape[0], 2)

    def baseline(self, state):
        return torch.zeros(state.shape[0])

    def classify(self, state):
        return torch.zeros(state.shape[0], 10)


def test_rollout_log_probs_are_the_gaussian_density_of_the_sampled_locations():
    env = GlimpseVectorEnv(64, output="torch", canvas_size=60, num_glimpses=4)
    first = env.reset(seed=3)
    std = 0.05
    agent = _ConstantMeanAgent((0.2, -0.1))
    episodes = rollout(agent, env, first, std, generator=torch.Generator().manual_seed(1))
    chosen = episodes.locations[:, 1:]  # |mean| + 5 std < 1: no clipping
    mean = torch.tensor([0.2, -0.1])
    z = (chosen - mean) / std
    by_hand = (-0.5 * z**2 - math.log(std) - 0.5 * math.log(2 * math.pi)).sum(-1)
    torch.testing.assert_close(episodes.log_probs, by_hand, rtol=1e-5, atol=1e-5)
    assert 0.8 < float(z.std()) < 1.2  # the noise has the configured scale
    greedy = rollout(agent, env, env.reset(seed=3), std, sample=False)
    assert torch.equal(greedy.log_probs, torch.zeros(64, 3))
    torch.testing.assert_close(greedy.locations[:, 1:], mean.expand(64, 3, 2))


def _fixed_probability_player(right: tuple[float, ...]):
    """A player whose path ``r`` (of ``M = len(right)``) gives the true class probability
    ``right[r]`` and the next class the rest."""

    def play(env, first, sample, generator):
        labels = first[1]["label"]
        n, m = env.num_envs, len(right)
        p_right = torch.tensor(right).repeat(n // m)
        probs = torch.full((n, 10), 1e-9)
        probs[torch.arange(n), labels] = p_right
        probs[torch.arange(n), (labels + 1) % 10] = 1 - p_right
        return probs.log(), torch.zeros(n, env.episodes.config.num_glimpses, 2)

    return play


def test_monte_carlo_evaluation_averages_probabilities_not_votes():
    env = GlimpseVectorEnv(12, output="torch", split="test", num_glimpses=2)
    agent = nn.Linear(1, 1)
    # Two of three paths say "wrong" (0.6), one is sure of the right class: the average of the
    # probabilities (0.6 right) answers right; a majority vote would answer wrong.
    result = evaluate(agent, env, _fixed_probability_player((0.4, 0.4, 1.0)), 10, "mc", 3)
    assert (result.errors, result.total) == (0, 10)
    # Two of three paths are right (0.6), one is sure of the wrong class: average 0.4 right.
    result = evaluate(agent, env, _fixed_probability_player((0.6, 0.6, 0.0)), 10, "mc", 3)
    assert (result.errors, result.total) == (10, 10)


def test_monte_carlo_evaluation_puts_each_canvas_in_m_environments():
    env = GlimpseVectorEnv(20, output="torch", split="valid", num_glimpses=2)
    seen: list[torch.Tensor] = []

    def play(env, first, sample, generator):
        seen.append(env.canvases.clone())
        n = env.num_envs
        return torch.zeros(n, 10), torch.zeros(n, 2, 2)

    result = evaluate(nn.Linear(1, 1), env, play, 30, "mc", mc_samples=5)  # 4 canvases a batch
    assert result.total == 30 and result.split == "valid" and len(seen) == 8
    for canvases in seen:
        groups = canvases.view(4, 5, *canvases.shape[1:])
        assert torch.equal(groups, groups[:, :1].expand_as(groups))
    firsts = torch.cat([c[::5] for c in seen])[:30]
    assert len({bytes(c.numpy()) for c in firsts}) == 30  # 30 different canvases
    # Class 0 everywhere: the errors are the canvases whose label is not 0.
    labels = []
    for start in range(0, 32, 4):
        _, info = env.reset_to(result_key(), np.repeat(np.arange(start, start + 4), 5))
        labels.append(info["label"][::5])
    assert result.errors == int((torch.cat(labels)[:30] != 0).sum())


def result_key() -> int:
    from glimpse_env.evaluation import evaluation_key

    return evaluation_key(20140624)
