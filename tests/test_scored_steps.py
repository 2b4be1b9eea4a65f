"""The label-at-scored-steps policies: which action parts count, on which step."""

from __future__ import annotations

import pytest
import torch

from agents.sb3.algorithms import make_model, make_vec_env
from agents.sb3.config import BaselineConfig
from agents.sb3.files import load_model
from agents.sb3.scored_steps import (
    SWITCH,
    ScoredStepDistribution,
    ScoredStepLstmPolicy,
    ScoredStepPolicy,
    part_weights,
)


def test_weights_single_digit_episode():
    # 6 glimpses: observations after 0..5 steps; the 6th action (after 5 steps) names the digit
    # and moves nowhere.
    step = torch.arange(6, dtype=torch.float32).unsqueeze(1) / 6
    weights = part_weights(step, answer_steps=[6], episode_length=6, num_parts=3)
    expected = torch.tensor([[1.0, 1.0, 0.0]] * 5 + [[0.0, 0.0, 1.0]])
    assert torch.equal(weights, expected)


def test_weights_pairs_with_a_first_move_and_a_frame_stack():
    # initial_location="agent": 1 + 6 x 2 = 13 steps, labels scored on steps 7 and 13; the newest
    # step of a 3-frame stack is the last column.
    length = 13
    newest = torch.arange(length, dtype=torch.float32) / length
    step = torch.stack([torch.zeros(length), torch.zeros(length), newest], dim=1)
    weights = part_weights(step, answer_steps=[7, 13], episode_length=length, num_parts=3)
    assert weights[:, -1].nonzero().flatten().tolist() == [6, 12]
    assert weights[:, 0].tolist() == [1.0] * 12 + [0.0]


def test_distribution_ignores_the_unread_parts():
    dist = ScoredStepDistribution([3, 3, 10])
    logits = torch.randn(2, 16, requires_grad=True)
    dist.proba_distribution(logits)
    actions = torch.tensor([[0, 1, 4], [2, 2, 7]])
    full = dist.log_prob(actions)
    dist.weights = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    masked = dist.log_prob(actions)
    parts = [d.log_prob(a) for d, a in zip(dist.distribution, actions.unbind(1), strict=True)]
    assert torch.allclose(full, sum(parts))
    assert torch.allclose(masked, torch.stack([parts[0][0] + parts[1][0], parts[2][1]]))
    masked.sum().backward()
    label_logits = logits.grad[:, 6:]  # no gradient reaches sample 0's label, nor sample 1's move
    assert torch.all(label_logits[0] == 0) and torch.all(logits.grad[1, :6] == 0)
    assert torch.any(label_logits[1] != 0)
    entropy = dist.entropy()
    assert torch.allclose(entropy[1], dist.distribution[2].entropy()[1])


def _config(algo: str, switch: bool) -> BaselineConfig:
    policy = dict(lstm_hidden_size=16, net_arch=[16]) if algo == "recurrent-ppo" else {}
    policy = {**policy, "net_arch": [16], SWITCH: switch}
    hyper = dict(n_steps=6, batch_size=48, n_epochs=1, policy_kwargs=policy)
    return BaselineConfig(
        algo=algo, env_id="MNIST-v0", num_envs=8, timesteps=96, eval_canvases=40,
        eval_batch_size=40, eval_every=10**9, checkpoint_every=48, hyper=hyper,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("algo", "policy"), [("recurrent-ppo", ScoredStepLstmPolicy), ("ppo", ScoredStepPolicy)]
)
def test_switch_builds_the_policy_and_trains(tmp_path, algo, policy):
    from agents.sb3.baselines import train_baseline

    config = _config(algo, True)
    venv, _ = make_vec_env(config, config.num_envs, "train")
    model = make_model(config, venv, None)
    assert isinstance(model.policy, policy)
    assert model.policy.answer_steps == [6] and model.policy.episode_length == 6
    result = train_baseline(config, tmp_path / "run", progress=False)
    assert result.greedy.total == 40
    reloaded = load_model(tmp_path / "run" / "model.zip", config)  # built again from the config
    assert isinstance(reloaded.policy, policy)


def test_without_the_switch_the_policy_is_sb3s():
    config = _config("ppo", False)
    venv, _ = make_vec_env(config, config.num_envs, "train")
    assert not isinstance(make_model(config, venv, None).policy, ScoredStepPolicy)


def test_recurrent_ppo_preset_counts_the_label_at_scored_steps_and_the_flag_can_turn_it_off():
    import argparse

    from agents.cli.sb3 import hyper_overrides

    def hyper(algo: str, switch: bool | None) -> dict:
        flags = dict.fromkeys(("learning_rate", "ent_coef", "n_epochs", "gae_lambda", "n_steps"))
        namespace = argparse.Namespace(label_at_scored_steps=switch, **flags)
        return hyper_overrides(namespace, algo, "ClutteredMNIST-v0")

    assert hyper("recurrent-ppo", None)["policy_kwargs"][SWITCH] is True  # the preset's choice
    assert hyper("recurrent-ppo", False)["policy_kwargs"][SWITCH] is False
    assert SWITCH not in hyper("ppo", None)["policy_kwargs"]  # not measured for PPO: off
    assert hyper("ppo", True)["policy_kwargs"][SWITCH] is True
