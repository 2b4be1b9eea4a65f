"""The native vector env: identical to N single envs seeded alike, in both autoreset modes."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from glimpse_env import GlimpseVectorEnv


def _actions(rng, n, num_classes=10):
    return {
        "location": rng.uniform(-1.2, 1.2, (n, 2)).astype(np.float32),
        "label": rng.integers(0, num_classes, n),
    }


def _assert_infos_equal(a_info, b_info, where=""):
    """Every privileged entry (label(s), box(es), success where reported) agrees."""
    for key in b_info:
        if key.startswith("_") or key.startswith("final_") or key == "is_success":
            continue
        np.testing.assert_array_equal(a_info[key], b_info[key], err_msg=f"{where} {key}")
    if "is_success" in b_info:
        done = b_info["_is_success"]
        np.testing.assert_array_equal(a_info["is_success"][done], b_info["is_success"][done])


@pytest.mark.parametrize(
    "env_id,kwargs",
    [
        ("ClutteredMNIST-v0", {}),
        ("ClutteredMNIST-v0", {"initial_location": "random"}),
        ("MNIST-v0", {}),
        ("ClutteredMNIST-v0", {"context_size": 24}),
        ("ClutteredMNIST-v0", {"context_size": 24, "initial_location": "agent"}),
        ("ClutteredMNISTPairs-v0", {}),
        ("MNISTAddition-v0", {}),
        ("ClutteredMNIST200Var-v0", {}),
    ],
)
@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_native_matches_sync_vector_env_of_single_envs(env_id, kwargs, mode):
    n = 5
    native = gym.make_vec(
        env_id, num_envs=n, vectorization_mode="vector_entry_point", autoreset_mode=mode, **kwargs
    )
    sync = SyncVectorEnv(
        [lambda: gym.make(env_id, **kwargs) for _ in range(n)], autoreset_mode=mode
    )
    assert isinstance(native, GlimpseVectorEnv)
    assert native.single_observation_space == sync.single_observation_space
    assert native.single_action_space == sync.single_action_space
    steps = 2 * native.config.episode_length + 3  # autoreset is exercised twice
    classes = native.single_action_space["label"].n
    a, a_info = native.reset(seed=123)
    b, b_info = sync.reset(seed=123)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    _assert_infos_equal(a_info, b_info, "reset")
    rng = np.random.default_rng(0)
    total_reward = 0.0
    for t in range(steps):
        action = _actions(rng, n, classes)
        expected = native.episodes.expected_label().numpy()  # name half of them right
        action["label"] = np.where(rng.random(n) < 0.5, expected, action["label"])
        a, ra, ta, tra, a_info = native.step(action)
        b, rb, tb, trb, b_info = sync.step(action)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"step {t} {key}")
        np.testing.assert_array_equal(ra, rb)
        np.testing.assert_array_equal(ta, tb)
        np.testing.assert_array_equal(tra, trb)
        assert ra.dtype == rb.dtype
        _assert_infos_equal(a_info, b_info, f"step {t}")
        if mode == AutoresetMode.SAME_STEP and tb.any():
            for i in np.flatnonzero(tb):
                for key in b_info["final_obs"][i]:
                    np.testing.assert_array_equal(
                        a_info["final_obs"][key][i], b_info["final_obs"][i][key]
                    )
        total_reward += ra.sum()
    assert total_reward > 0  # some labels were right, so scoring was compared too


def test_torch_output_stays_on_device_and_accepts_tensors():
    env = GlimpseVectorEnv(8, output="torch", device="cpu")
    obs, info = env.reset(seed=0)
    assert isinstance(obs["glimpse"], torch.Tensor) and obs["glimpse"].shape == (8, 3, 12, 12)
    assert isinstance(info["label"], torch.Tensor)
    for _ in range(6):
        obs, reward, terminated, truncated, info = env.step(
            {"location": torch.zeros(8, 2), "label": info["label"]}
        )
    assert isinstance(reward, torch.Tensor) and bool(terminated.all())
    assert torch.equal(reward, torch.ones(8))


def test_partial_reset_with_mask():
    env = GlimpseVectorEnv(4)
    obs, info = env.reset(seed=1)
    env.step({"location": np.full((4, 2), 0.5, np.float32), "label": np.zeros(4, np.int64)})
    before = env.canvases.clone()
    obs, info = env.reset(options={"reset_mask": np.array([True, False, True, False])})
    after = env.canvases
    assert torch.equal(before[1], after[1]) and torch.equal(before[3], after[3])
    assert not torch.equal(before[0], after[0])
    np.testing.assert_array_equal(obs["location"][[0, 2]], 0.0)
    np.testing.assert_array_equal(obs["location"][[1, 3]], 0.5)


@pytest.mark.parametrize(
    "action,match",
    [
        ({"location": np.zeros((3, 2), np.float32), "label": np.zeros(4, int)}, r"\(4, 2\)"),
        ({"location": np.full((4, 2), np.nan, np.float32), "label": np.zeros(4, int)}, "NaN"),
        ({"location": np.zeros((4, 2), np.float32), "label": np.full(4, -1)}, "0..9"),
    ],
)
def test_bad_batched_actions_raise(action, match):
    env = GlimpseVectorEnv(4)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        env.step(action)


def test_unseeded_resets_differ_and_step_requires_reset():
    env = GlimpseVectorEnv(2)
    with pytest.raises(RuntimeError, match="reset"):
        env.step({"location": np.zeros((2, 2), np.float32), "label": np.zeros(2, int)})
    first = env.reset()[0]["glimpse"]
    second = GlimpseVectorEnv(2).reset()[0]["glimpse"]
    assert not np.array_equal(first, second)


def test_after_a_partial_reset_episodes_end_on_their_own_steps():
    env = GlimpseVectorEnv(4)
    _, info = env.reset(seed=2)
    act = {"location": np.zeros((4, 2), np.float32), "label": info["label"]}
    env.step(act)  # everyone has taken 1 step
    _, info = env.reset(options={"reset_mask": np.array([True, False, True, False])})
    act["label"] = info["label"]
    for _ in range(4):  # envs 1 and 3 reach step 5
        _, reward, terminated, _, info = env.step(act)
        assert not terminated.any()
    _, reward, terminated, _, info = env.step(act)  # step 6 for envs 1 and 3
    np.testing.assert_array_equal(terminated, [False, True, False, True])
    np.testing.assert_array_equal(reward, [0.0, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal(info["_is_success"], [False, True, False, True])
    _, reward, terminated, _, info = env.step(act)  # 1 and 3 autoreset; 0 and 2 end
    np.testing.assert_array_equal(terminated, [True, False, True, False])
    np.testing.assert_array_equal(reward, [1.0, 0.0, 1.0, 0.0])
    np.testing.assert_array_equal(info["_is_success"], [True, False, True, False])


def test_the_disabled_autoreset_mode_leaves_resets_to_the_caller():
    """Gymnasium's third mode (``AutoresetMode.DISABLED``, what torchrl prefers): ``step`` never
    resets; the caller resets the ended environments with ``reset_mask``, and stepping one first
    is an error naming it."""
    from gymnasium.vector import AutoresetMode

    venv = gym.make_vec("MNIST-v0", num_envs=3, autoreset_mode="Disabled")
    assert venv.metadata["autoreset_mode"] == AutoresetMode.DISABLED
    obs, _ = venv.reset(seed=0)
    steps = venv.unwrapped.config.episode_length
    action = {"location": np.zeros((3, 2), np.float32), "label": np.zeros(3, np.int64)}
    for _ in range(steps):
        last, _, terminated, _, _ = venv.step(action)
    assert terminated.all()
    with pytest.raises(RuntimeError, match=r"environments \[0, 1, 2\] have ended"):
        venv.step(action)
    fresh, _ = venv.reset(options={"reset_mask": np.array([True, False, True])})
    assert fresh["step"][0, 0] == 0 and fresh["step"][2, 0] == 0
    with pytest.raises(RuntimeError, match=r"environments \[1\] have ended"):
        venv.step(action)
    with pytest.raises(ValueError, match="autoreset_mode must be one of"):
        gym.make_vec("MNIST-v0", num_envs=2, autoreset_mode="Sometimes")
