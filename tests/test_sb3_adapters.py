"""The SB3 adapters: grid actions (exact round trip, SB3's checker) and the native SB3 VecEnv."""

from __future__ import annotations

import itertools

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.vec_env import DummyVecEnv

from agents.sb3.vec_env import GlimpseSB3VecEnv
from glimpse_env import ENV_IDS
from glimpse_env.envs.wrappers import GridActions, grid_indices, grid_locations


@pytest.mark.parametrize("env_id", sorted(ENV_IDS))
def test_grid_wrapper_passes_the_sb3_env_checker(env_id):
    env = GridActions(gym.make(env_id), grid_size=9)
    sb3_check_env(env, warn=True)
    classes = env.unwrapped.action_space["label"].n  # 10 digits, 19 sums on MNISTAddition-v0
    assert classes == (19 if env_id == "MNISTAddition-v0" else 10)
    assert env.action_space.nvec.tolist() == [9, 9, classes]
    native = GlimpseSB3VecEnv.from_id(env_id, 2, grid_size=9)
    assert native.action_space.nvec.tolist() == [9, 9, classes]


@pytest.mark.parametrize("env_id", ["MNISTAddition-v0", "ClutteredMNISTPairs-v0"])
def test_multi_digit_tasks_take_every_label_through_both_adapters(env_id):
    """Labels up to C - 1 (18 for the sums) are accepted, scored alike by the wrapper and the
    native adapter, and C is refused."""
    n = 4
    native = GlimpseSB3VecEnv.from_id(env_id, n, grid_size=9)
    dummy = DummyVecEnv([lambda: GridActions(gym.make(env_id), grid_size=9) for _ in range(n)])
    classes = int(native.action_space.nvec[2])
    native.seed(3)
    dummy.seed(3)
    native.reset(), dummy.reset()
    rng = np.random.default_rng(1)
    length = native.venv.config.episode_length
    for t in range(2 * length):
        actions = np.stack(
            [rng.integers(0, 9, n), rng.integers(0, 9, n), rng.integers(0, classes, n)], 1
        )
        actions[0, 2] = classes - 1
        a, ra, da, _ = native.step(actions)
        b, rb, db, _ = dummy.step(actions)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"step {t} {key}")
        np.testing.assert_array_equal(ra, rb)
        np.testing.assert_array_equal(da, db)
    with pytest.raises(ValueError, match=f"label in 0..{classes - 1}"):
        native.step(np.array([[0, 0, classes]] * n))


def test_grid_actions_round_trip_exactly():
    env = GridActions(gym.make("MNIST-v0"), grid_size=5)
    for ix, iy, label in itertools.product(range(5), range(5), range(10)):
        action = np.array([ix, iy, label])
        as_dict = env.action(action)
        assert as_dict["location"].dtype == np.float32
        assert np.array_equal(env.reverse_action(as_dict), action)
        again = env.action(env.reverse_action(as_dict))
        assert np.array_equal(again["location"], as_dict["location"])
        assert again["label"] == as_dict["label"]
    assert grid_locations(np.array([0, 4]), 5).tolist() == [-1.0, 1.0]
    assert grid_indices(np.array([0.49, 0.51]), 5).tolist() == [3, 3]


@pytest.mark.parametrize(
    "bad, match",
    [(np.array([0, 0]), "shape"), (np.array([9, 0, 0]), "out of range"),
     (np.array([0, 0, 10]), "out of range"), (np.array([0.5, 0, 0]), "integers")],
)  # fmt: skip
def test_bad_grid_actions_name_the_problem(bad, match):
    env = GridActions(gym.make("MNIST-v0"), grid_size=9)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        env.step(bad)


def test_native_sb3_vec_env_equals_dummy_vec_env_of_wrapped_envs():
    n, steps = 4, 14
    native = GlimpseSB3VecEnv.from_id("ClutteredMNIST-v0", n, grid_size=9)
    dummy = DummyVecEnv(
        [lambda: GridActions(gym.make("ClutteredMNIST-v0"), grid_size=9) for _ in range(n)]
    )
    native.seed(7)
    dummy.seed(7)
    a, b = native.reset(), dummy.reset()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    rng = np.random.default_rng(0)
    total = 0.0
    labels = np.array([info["label"] for info in dummy.reset_infos])
    for t in range(steps):
        guesses = np.where(rng.random(n) < 0.5, labels, rng.integers(0, 10, n))
        actions = np.stack([rng.integers(0, 9, n), rng.integers(0, 9, n), guesses], 1)
        a, ra, da, ia = native.step(actions)
        b, rb, db, ib = dummy.step(actions)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"step {t} {key}")
        np.testing.assert_array_equal(ra, rb)
        np.testing.assert_array_equal(da, db)
        for i in range(n):
            assert ia[i]["label"] == ib[i]["label"]
            if db[i]:
                assert ia[i]["is_success"] == ib[i]["is_success"]
                for key in ib[i]["terminal_observation"]:
                    np.testing.assert_array_equal(
                        ia[i]["terminal_observation"][key], ib[i]["terminal_observation"][key]
                    )
        total += ra.sum()
        labels = np.array(
            [dummy.reset_infos[i]["label"] if db[i] else ib[i]["label"] for i in range(n)]
        )
    assert total > 0  # some episodes were scored right, so rewards were compared too


def test_recurrent_ppo_updates_its_policy_on_the_native_adapter():
    from sb3_contrib import RecurrentPPO

    venv = GlimpseSB3VecEnv.from_id("MNIST-v0", 8, grid_size=5, num_glimpses=3)
    model = RecurrentPPO(
        "MultiInputLstmPolicy", venv, n_steps=12, batch_size=48, n_epochs=1, seed=0,
        policy_kwargs={"lstm_hidden_size": 16, "net_arch": [16]}, device="cpu",
    )  # fmt: skip
    before = {k: v.clone() for k, v in model.policy.state_dict().items()}
    model.learn(total_timesteps=96)
    assert model.num_timesteps == 96
    after = model.policy.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    # Two PPO updates moved the LSTM, the action head and the value head, and left no NaN.
    assert any("lstm" in k for k in changed) and any("action_net" in k for k in changed)
    assert any("value_net" in k for k in changed)
    assert all(torch.isfinite(v).all() for v in after.values())
