"""The single Gymnasium env: API, episode rules, errors, seeding, rendering."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import glimpse_env
from glimpse_env import ENV_IDS


@pytest.mark.parametrize("env_id", sorted(ENV_IDS))
def test_registered_ids_pass_the_gymnasium_checker(env_id):
    env = gym.make(env_id, render_mode="rgb_array")
    check_env(env.unwrapped)
    c = env.unwrapped.config
    assert env.observation_space["glimpse"].shape == (c.num_scales, c.glimpse_size, c.glimpse_size)
    for key, value in ENV_IDS[env_id].items():
        assert getattr(c, key) == value


def test_registered_settings_are_the_papers():
    c = gym.make("ClutteredMNIST100-v0").unwrapped.config
    assert (c.canvas_size, c.num_distractors, c.glimpse_size, c.num_scales, c.num_glimpses) == (
        100,
        8,
        12,
        4,
        8,
    )
    c = gym.make("MNIST-v0").unwrapped.config
    assert (c.canvas_size, c.glimpse_size, c.num_scales) == (28, 8, 1)


def _label_action(env, label, location=(0.0, 0.0)):
    return {"location": np.array(location, np.float32), "label": label}


def test_episode_has_num_glimpses_observations_and_scores_the_last_step():
    env = gym.make("ClutteredMNIST-v0")
    obs, info = env.reset(seed=3)
    np.testing.assert_array_equal(obs["location"], [0.0, 0.0])
    assert 0.0 <= obs["glimpse"].min() and obs["glimpse"].max() <= 1.0
    for _ in range(5):  # observations 2..6
        obs, reward, terminated, truncated, info = env.step(_label_action(env, info["label"]))
        assert reward == 0.0 and not terminated and not truncated
    obs, reward, terminated, truncated, info = env.step(_label_action(env, info["label"]))
    assert reward == 1.0 and terminated and not truncated and info["is_success"]
    with pytest.raises(RuntimeError, match="reset"):
        env.step(_label_action(env, 0))
    obs, info = env.reset()
    for _ in range(6):
        obs, reward, terminated, _, step_info = env.step(
            _label_action(env, (info["label"] + 1) % 10)
        )
    assert reward == 0.0 and terminated and not step_info["is_success"]


def test_glimpse_is_the_retina_at_the_moved_location():
    env = gym.make("ClutteredMNIST-v0").unwrapped
    env.reset(seed=0)
    obs, *_ = env.step(_label_action(env, 0, (0.3, -0.4)))
    np.testing.assert_allclose(obs["location"], [0.3, -0.4])
    want = glimpse_env.extract_glimpses(
        env.canvas[None], np.array([[0.3, -0.4]], np.float32), 12, 3, 2
    )[0]
    np.testing.assert_array_equal(obs["glimpse"], want)


def test_info_carries_the_true_label_and_the_digit_box():
    env = gym.make("TranslatedMNIST-v0").unwrapped
    _, info = env.reset(seed=5)
    x0, y0, x1, y1 = info["bbox"]
    assert (x1 - x0, y1 - y0) == (28, 28)
    canvas = env.canvas.copy()
    assert canvas[y0:y1, x0:x1].sum() == canvas.sum() > 0  # the digit is all there is
    assert 0 <= info["label"] <= 9


def test_locations_outside_the_square_are_clipped():
    env = gym.make("ClutteredMNIST-v0")
    env.reset(seed=0)
    obs, *_ = env.step(_label_action(env, 0, (3.0, -7.5)))
    np.testing.assert_array_equal(obs["location"], [1.0, -1.0])


_NOT_NUMBERS = r'action\["{}"\] must be numbers'


@pytest.mark.parametrize(
    "action,match",
    [
        ({"location": np.array([np.nan, 0.0], np.float32), "label": 1}, "NaN or inf"),
        ({"location": np.array([0.0, np.inf], np.float32), "label": 1}, "NaN or inf"),
        ({"location": np.zeros(3, np.float32), "label": 1}, r"shape \(2,\)"),
        ({"location": np.zeros((1, 2), np.float32), "label": 1}, r"shape \(2,\)"),
        ({"location": np.zeros(2, np.float32), "label": 10}, "0..9"),
        ({"location": np.zeros(2, np.float32), "label": 1.5}, "integer class"),
        ({"location": np.zeros(2, np.float32)}, "keys 'location' and 'label'"),
        (np.zeros(3), "dict with keys"),
        ({"location": np.zeros(2, np.float32), "label": "3"}, r'action\["label"\] must be numbers'),
        (
            {"location": np.zeros(2, np.float32), "label": None},
            r'action\["label"\] must be numbers',
        ),
        ({"location": ["a", "b"], "label": 1}, r'action\["location"\] must be numbers'),
        ({"location": [0.0, [1.0]], "label": 1}, r'action\["location"\] must be numbers'),
    ],
)
def test_bad_actions_raise_clear_errors(action, match):
    env = gym.make("ClutteredMNIST-v0").unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        env.step(action)


def _rollout(env, seed, steps=13):
    obs, info = env.reset(seed=seed)
    trace = [obs["glimpse"].copy()]
    rng = np.random.default_rng(0)
    for _ in range(steps):
        action = {"location": rng.uniform(-1, 1, 2).astype(np.float32), "label": 3}
        obs, _, terminated, _, _ = env.step(action)
        trace.append(obs["glimpse"].copy())
        if terminated:
            obs, _ = env.reset()
            trace.append(obs["glimpse"].copy())
    return np.stack(trace)


def test_seeding_reproduces_episodes_and_seeds_differ():
    a = _rollout(gym.make("ClutteredMNIST-v0"), seed=11)
    b = _rollout(gym.make("ClutteredMNIST-v0"), seed=11)
    c = _rollout(gym.make("ClutteredMNIST-v0"), seed=12)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_random_initial_location_and_split_choice(mnist_test):
    env = gym.make("ClutteredMNIST-v0", initial_location="random", split="test")
    starts = np.array([env.reset(seed=s)[0]["location"] for s in range(50)])
    assert starts.min() >= -1 and starts.max() <= 1 and starts.std(axis=0).min() > 0.3
    with pytest.raises(ValueError, match="initial_location"):
        gym.make("ClutteredMNIST-v0", initial_location="corner")
    with pytest.raises(ValueError, match="split"):
        gym.make("ClutteredMNIST-v0", split="validation")


def test_render_draws_the_canvas_and_the_glimpse_squares():
    env = gym.make("ClutteredMNIST-v0", render_mode="rgb_array")
    env.reset(seed=0)
    env.step(_label_action(env, 0, (0.5, 0.5)))
    frame = env.render()
    assert frame.shape == (300, 300, 3) and frame.dtype == np.uint8
    coloured = (frame[..., 0] != frame[..., 1]) | (frame[..., 1] != frame[..., 2])
    assert coloured.sum() > 500  # squares and path are drawn in colour over a grey canvas
    # The innermost square around (0.5, 0.5) covers canvas pixels 39..50; its top edge is red.
    scale = 300 // 60
    assert tuple(frame[39 * scale, 45 * scale]) == (255, 64, 64)


def test_make_without_import_uses_the_module_prefix():
    code = (
        "import gymnasium as gym, sys\n"
        "env = gym.make('glimpse_env:ClutteredMNIST-v0')\n"
        "obs, info = env.reset(seed=0)\n"
        "print(type(env.unwrapped).__name__, obs['glimpse'].shape)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ClutteredMNISTEnv (3, 12, 12)"


def test_context_observation_is_the_whole_canvas_downsampled():
    import torch

    from glimpse_env.retina import coarse_view

    env = gym.make("ClutteredMNIST-v0", context_size=24)
    check_env(env.unwrapped)
    obs, _ = env.reset(seed=5)
    assert obs["context"].shape == (24, 24) and obs["context"].dtype == np.float32
    expected = coarse_view(torch.from_numpy(env.unwrapped.canvas[None]), 24)[0].numpy()
    np.testing.assert_array_equal(obs["context"], expected)
    # The mean intensity is preserved when the size divides the canvas.
    small = coarse_view(torch.from_numpy(env.unwrapped.canvas[None]), 30)[0].numpy()
    assert small.mean() == pytest.approx(env.unwrapped.canvas.mean() / 255, rel=1e-5)
    later, *_ = env.step({"location": np.array([0.5, 0.5], np.float32), "label": 0})
    np.testing.assert_array_equal(later["context"], obs["context"])  # fixed for the episode
    with pytest.raises(ValueError, match="context_size"):
        gym.make("ClutteredMNIST-v0", context_size=-1)


_COLLISION = """
import warnings
import gymnasium as gym

def dummy_entry():
    return gym.make("CartPole-v1")

{before}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import glimpse_env
{after}
ours = gym.make("GlimpseEnv/MNIST-v0").unwrapped
assert type(ours).__name__ == "ClutteredMNISTEnv", type(ours)
assert gym.make("GlimpseEnv/ClutteredMNIST-v0").unwrapped.__class__.__name__ == "ClutteredMNISTEnv"
venv = gym.make_vec("GlimpseEnv/MNIST-v0", num_envs=2)
assert type(venv).__name__ == "GlimpseVectorEnv"
print("MNIST-v0 ->", gym.spec("MNIST-v0").entry_point)
print("warnings:", [str(w.message) for w in caught])
"""


def _collision(before: str, after: str) -> str:
    import subprocess
    import sys

    code = _COLLISION.format(before=before, after=after)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def test_another_package_registering_our_bare_names_takes_nothing_silently():
    register = (
        'gym.register(id="MNIST-v0", entry_point="gymnasium.envs.classic_control:CartPoleEnv")'
    )
    # Registered before the import: the bare name stays theirs, with a warning naming ours.
    out = _collision(before=register, after="")
    assert "MNIST-v0 -> gymnasium.envs.classic_control:CartPoleEnv" in out
    assert "is registered by another package" in out and "GlimpseEnv/MNIST-v0" in out
    # Registered after: Gymnasium warns about the override; our namespaced id keeps working.
    out = _collision(before="", after=register)
    assert "MNIST-v0 -> gymnasium.envs.classic_control:CartPoleEnv" in out
    assert "Overriding environment MNIST-v0" in out


def test_namespaced_and_bare_ids_are_the_same_task():
    from agents.training.config import TrainConfig

    assert gym.spec("GlimpseEnv/ClutteredMNIST-v0").kwargs == gym.spec("ClutteredMNIST-v0").kwargs
    namespaced = TrainConfig(env_id="GlimpseEnv/ClutteredMNIST-v0").task_kwargs()
    assert namespaced == TrainConfig(env_id="ClutteredMNIST-v0").task_kwargs()
    with pytest.raises(ValueError, match="unknown env id 'GlimpseEnv/Nope-v0'"):
        TrainConfig(env_id="GlimpseEnv/Nope-v0")


def test_observation_carries_the_step_fraction():
    env = gym.make("ClutteredMNIST-v0", num_glimpses=4)
    obs, _ = env.reset(seed=0)
    assert env.observation_space["step"].contains(obs["step"])
    seen = [float(obs["step"][0])]
    terminated = False
    while not terminated:
        action = {"location": np.zeros(2, np.float32), "label": 0}
        obs, _, terminated, _, _ = env.step(action)
        seen.append(float(obs["step"][0]))
    assert seen == [0.0, 0.25, 0.5, 0.75, 1.0]  # the label is read after the 0.75 glimpse


def test_sb3_features_use_the_step():
    import torch

    from agents.sb3.features import GlimpseFeatures

    space = gym.make("ClutteredMNIST-v0").observation_space
    features = GlimpseFeatures(space, features_dim=16, glimpse_hidden=8, location_hidden=8)
    obs = {k: torch.as_tensor(np.stack([v.sample() for _ in range(3)])) for k, v in space.items()}
    later = {**obs, "step": obs["step"] + 0.5}
    assert not torch.allclose(features(obs), features(later))


def test_task_fields_are_declared_once():
    import dataclasses

    from agents.training.config import TASK_FIELDS, TrainConfig
    from glimpse_env.envs import TaskConfig

    assert set(TASK_FIELDS) == {f.name for f in dataclasses.fields(TaskConfig)} - {"split"}
    assert TrainConfig(scale_factor=3).task_kwargs()["scale_factor"] == 3
    with pytest.raises(ValueError, match=r"unknown task argument\(s\) \['canvas_sise'\]"):
        gym.make("ClutteredMNIST-v0", canvas_sise=80)
    with pytest.raises(ValueError, match="unknown task argument"):
        gym.make_vec("ClutteredMNIST-v0", num_envs=2, canvas_sise=80)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(canvas_size=60.5), "canvas_size must be a positive int"),
        (dict(num_glimpses=True), "num_glimpses must be a positive int"),
        (dict(context_size=False), "context_size must be an int >= 0"),
        (dict(canvas_size="60"), "canvas_size must be a positive int"),
        (dict(num_distractors=2.0), "num_distractors must be an int >= 0"),
        (dict(device="nope"), "device must be 'cpu', 'cuda' or 'cuda:N'"),
        *(
            [(dict(device="cuda"), "this torch has no usable CUDA")]
            if not __import__("torch").cuda.is_available()
            else []
        ),
    ],
)
def test_bad_constructor_arguments_fail_up_front(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make("ClutteredMNIST-v0", **kwargs)
    with pytest.raises(ValueError, match=message):
        gym.make_vec("ClutteredMNIST-v0", num_envs=2, **kwargs)


@pytest.mark.parametrize("num_envs", [-1, 0, 2.0, True])
def test_num_envs_must_be_a_positive_int(num_envs):
    with pytest.raises(ValueError, match="num_envs must be a positive int"):
        gym.make_vec("ClutteredMNIST-v0", num_envs=num_envs)


def test_unsigned_integer_labels_are_accepted():
    env = gym.make("ClutteredMNIST-v0", num_glimpses=1)
    _, info = env.reset(seed=0)
    label = np.uint16(info["label"])
    _, reward, terminated, _, _ = env.step({"location": np.zeros(2, np.float32), "label": label})
    assert terminated and reward == 1.0


def test_unknown_reset_options_are_an_error_not_ignored():
    env = gym.make("ClutteredMNIST-v0")
    with pytest.raises(ValueError, match=r"unknown reset options \['canvas'\]"):
        env.reset(options={"canvas": 3})
    venv = gym.make_vec("ClutteredMNIST-v0", num_envs=2)
    with pytest.raises(ValueError, match=r"unknown reset options \['reset_masks'\]"):
        venv.reset(options={"reset_masks": [True, False]})
    env.reset(options={})  # empty options are fine


@pytest.mark.parametrize("make", ["make", "make_vec"])
def test_an_unknown_keyword_is_a_type_error_worded_as_pythons(make):
    """torchrl's ``GymEnv`` passes ``frameskip`` first and retries without it on Python's own
    ``TypeError``; existing ``except ValueError`` code still catches it."""
    from glimpse_env.envs.task import UnexpectedArgumentError

    kwargs = {"num_envs": 2} if make == "make_vec" else {}
    with pytest.raises(TypeError, match="unexpected keyword argument 'frameskip'") as caught:
        getattr(gym, make)("ClutteredMNIST-v0", frameskip=4, **kwargs)
    assert isinstance(caught.value, ValueError) and isinstance(
        caught.value, UnexpectedArgumentError
    )
    assert "the task fields are" in str(caught.value)
