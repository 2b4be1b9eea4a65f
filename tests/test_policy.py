"""The public evaluation protocol and ``predict``: a trained agent, or a user's own policy, run
in a plain loop scores exactly what the project's evaluation scores on the same canvases."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import glimpse_env
from agents import zoo
from agents.policy import evaluate_policy
from agents.runs.final import read_final
from agents.training.config import TrainConfig
from agents.training.trainer import Trainer
from agents.zoo_card import publish

REPO = Path(__file__).resolve().parents[1]
SMALL = dict(
    hidden=16, glimpse_hidden=8, location_hidden=8, batch_size=16, log_every=1, eval_every=0,
    final_eval_canvases=60, eval_batch_size=60, num_threads=1,
)  # fmt: skip


def test_evaluation_canvases_are_the_same_in_the_single_and_the_vector_env():
    env = gym.make("ClutteredMNIST-v0", split="test")
    venv = gym.make_vec("ClutteredMNIST-v0", num_envs=3, split="test")
    obs_v, info_v = venv.reset(options={"evaluation_canvases": [5, 6, 7]})
    for i, canvas in enumerate((5, 6, 7)):
        obs, info = env.reset(options={"evaluation_canvas": canvas})
        np.testing.assert_array_equal(obs["glimpse"], obs_v["glimpse"][i])
        assert info["label"] == int(info_v["label"][i])
    # reset(seed=...) is another stream: the natural guess does not give the protocol's canvases
    seeded, _ = venv.reset(seed=glimpse_env.EVAL_SEED)
    protocol, _ = venv.reset(options={"evaluation_canvases": [0, 1, 2]})
    assert not np.array_equal(seeded["glimpse"][1:], protocol["glimpse"][1:])
    other, _ = venv.reset(options={"evaluation_canvases": [0, 1, 2], "eval_seed": 7})
    assert not np.array_equal(other["glimpse"], protocol["glimpse"])
    with pytest.raises(ValueError, match="needs 3 index"):
        venv.reset(options={"evaluation_canvases": [0, 1]})
    with pytest.raises(ValueError, match=r"unknown reset options \['evaluation_canvas'\]"):
        venv.reset(options={"evaluation_canvas": 0})
    with pytest.raises(ValueError, match="must be >= 0"):
        env.reset(options={"evaluation_canvas": -1})
    with pytest.raises(ValueError, match="eval_seed must be >= 0"):
        env.reset(options={"evaluation_canvas": 0, "eval_seed": -3})


class CentreGazer:
    """A hand-written policy: looks at the centre and names a digit computed from the glimpse."""

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        glimpse = np.asarray(observation["glimpse"])
        batch = glimpse.reshape(-1, *glimpse.shape[-3:]) if glimpse.ndim == 4 else glimpse[None]
        label = (batch.sum(axis=(1, 2, 3)) * 7).astype(np.int64) % 10
        location = np.zeros((len(batch), 2), np.float32)
        if glimpse.ndim == 3:
            return {"location": location[0], "label": int(label[0])}, None
        return {"location": location, "label": label}, None


def test_a_users_policy_scores_the_same_in_a_plain_loop_and_through_evaluate_policy():
    policy, n = CentreGazer(), 40
    env = gym.make("TranslatedMNIST-v0", split="valid")
    wrong = 0
    for canvas in range(n):
        obs, _ = env.reset(options={"evaluation_canvas": canvas})
        done = False
        while not done:
            action, _ = policy.predict(obs)
            obs, reward, done, _, _ = env.step(action)
        wrong += reward < 1
    result = evaluate_policy(policy, "TranslatedMNIST-v0", "valid", n, batch_size=16)
    assert (result.errors, result.total) == (wrong, n)
    assert 0 < wrong < n


@pytest.fixture(scope="module")
def agents_by_family(tmp_path_factory) -> dict[str, zoo.ZooAgent]:
    """A few-update RAM (one digit) and DRAM (first move, context, two answers), published."""
    root = tmp_path_factory.mktemp("policy")
    tasks = {
        "ram": dict(env_id="ClutteredMNIST-v0", num_glimpses=3),
        "dram": dict(env_id="ClutteredMNISTPairs-v0", agent="dram", num_glimpses=2,
                     glimpse_network="conv", dram_channels=4, context_layers=3,
                     context_size=24, initial_location="agent"),
    }  # fmt: skip
    loaded = {}
    for family, task in tasks.items():
        run = root / family
        config = TrainConfig(**{**SMALL, **task, "updates": 20, "lr": 3e-3})
        Trainer(config, run, progress=False).train()
        publish(run / "checkpoint.pt", family, root / "models", progress=False, canvases=60)
        loaded[family] = zoo.load(root / "models" / f"{family}.safetensors")
    return loaded


@pytest.mark.parametrize("family", ["ram", "dram"])
def test_predict_plays_the_greedy_evaluation_exactly(agents_by_family, family):
    agent = agents_by_family[family]
    greedy, _ = agent.evaluate("test", 60)
    played = evaluate_policy(agent, agent.config.env_id, "test", 60, batch_size=25,
                             **agent.config.task_kwargs())  # fmt: skip
    assert played.errors == greedy.errors


def test_predict_takes_numpy_and_torch_single_and_batched_observations(agents_by_family):
    import agents

    agent = agents_by_family["ram"]
    assert isinstance(agents.load(agent.weights.source), zoo.ZooAgent)  # the one loader
    venv = gym.make_vec("ClutteredMNIST-v0", num_envs=4, split="test", num_glimpses=3)
    obs, _ = venv.reset(options={"evaluation_canvases": [0, 1, 2, 3]})
    batch_action, batch_state = agent.predict(obs)
    assert batch_action["location"].shape == (4, 2) and batch_action["label"].shape == (4,)
    assert batch_action["location"].dtype == np.float32
    single_action, _ = agent.predict({k: v[2] for k, v in obs.items()})
    np.testing.assert_allclose(single_action["location"], batch_action["location"][2], atol=1e-6)
    assert single_action["label"] == batch_action["label"][2]
    torch_action, _ = agent.predict({k: torch.as_tensor(v) for k, v in obs.items()})
    assert isinstance(torch_action["location"], torch.Tensor)
    # episode_start restarts only the marked environments
    obs2, *_ = venv.step(batch_action)
    restart = np.array([True, False, False, False])
    mixed, _ = agent.predict(obs2, batch_state, episode_start=restart)
    fresh, _ = agent.predict({k: v[:1] for k, v in obs2.items()})
    np.testing.assert_allclose(mixed["location"][0], fresh["location"][0], atol=1e-6)
    continued, _ = agent.predict(obs2, batch_state, episode_start=np.zeros(4, bool))
    np.testing.assert_allclose(mixed["location"][1:], continued["location"][1:], atol=1e-6)
    sampled, _ = agent.predict(obs, deterministic=False)
    assert not np.allclose(sampled["location"], batch_action["location"])
    with pytest.raises(ValueError, match="'glimpse' and 'location'"):
        agent.predict({"pixels": obs["glimpse"]})


def test_zoo_agent_loop_example_matches_evaluate(agents_by_family):
    agent = agents_by_family["ram"]
    done = subprocess.run(
        [sys.executable, "examples/zoo_agent_loop.py", "--model", str(agent.weights.source),
         "--canvases", "30"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    greedy, _ = agent.evaluate("test", 30)
    right = 30 - greedy.errors
    assert done.stdout.splitlines() == [
        f"gym.make: {right}/30 right",
        f"gym.make_vec: {right}/30 right",
    ]


def test_edram_plays_through_predict_on_canvas_observations():
    """EDRAM reads the whole canvas: through CanvasObservation its predict gives the answers of
    its own evaluation, in a plain gym.make loop and in the vector env."""
    import agents
    from glimpse_env.envs.wrappers import CanvasObservation

    agent = agents.load("edram-cluttered100-small")
    assert agent.observes_canvas
    greedy, _ = agent.evaluate("test", 40)
    played = evaluate_policy(agent, agent.config.env_id, "test", 40, batch_size=20)
    assert played.errors == greedy.errors and greedy.errors < 40 // 2  # far from chance
    env = CanvasObservation(gym.make(agent.config.env_id, split="test"))
    right = 0
    for canvas in range(10):
        obs, info = env.reset(options={"evaluation_canvas": canvas})
        state, done, total = None, False, 0.0
        while not done:
            action, state = agent.predict(obs, state)
            obs, reward, done, _, info = env.step(action)
            total += reward
        right += int(total == 1.0)
    first_ten, _ = agent.evaluate("test", 10)
    assert right == 10 - first_ten.errors
    with pytest.raises(ValueError, match="CanvasObservation"):
        agent.predict(env.unwrapped.reset()[0])


def test_supervised_baseline_loads_and_plays_through_predict(tmp_path):
    import agents
    from agents.supervised.config import SupervisedConfig
    from agents.supervised.policy import SupervisedPolicy
    from agents.supervised.trainer import SupervisedTrainer
    from glimpse_env.envs.wrappers import VectorCanvasObservation

    config = SupervisedConfig(
        env_id="MNIST-v0", model="fc", batch_size=32, updates=60, eval_every=60,
        eval_canvases=40, final_eval_canvases=40, eval_batch_size=40, num_threads=1,
    )  # fmt: skip
    SupervisedTrainer(config, tmp_path / "run", progress=False).train()
    policy = agents.load(tmp_path / "run" / "best.pt")
    assert isinstance(policy, SupervisedPolicy) and policy.observes_canvas
    scored = policy.evaluate("test", 40)
    assert scored.errors == read_final(tmp_path / "run").test_errors_greedy
    assert 0 < scored.errors < 20  # measured 5 of 40: far from chance, not perfect
    played = evaluate_policy(policy, config.env_id, "test", 40, batch_size=16)
    assert played.errors == scored.errors
    venv = VectorCanvasObservation(gym.make_vec(config.env_id, num_envs=4, split="test"))
    obs, _ = venv.reset(options={"evaluation_canvases": [0, 1, 2, 3]})
    assert obs["canvas"].shape == (4, *venv.single_observation_space["canvas"].shape)
    action, _ = policy.predict(obs)
    assert venv.single_action_space["label"].contains(int(action["label"][0]))


def test_a_canvas_policy_names_each_answer_at_the_step_that_scores_it():
    """On the two-digit task the env reads two labels at two steps: a whole-canvas model that
    knows both answers gets both rewards."""
    from agents.canvas_policy import CanvasPolicy
    from glimpse_env.envs.wrappers import VectorCanvasObservation

    venv = VectorCanvasObservation(gym.make_vec("ClutteredMNISTPairs-v0", num_envs=4, split="test"))
    obs, info = venv.reset(options={"evaluation_canvases": [0, 1, 2, 3]})
    truth = torch.as_tensor(info["labels"])  # (4, 2): the digits in reading order
    task = venv.unwrapped.config
    policy = CanvasPolicy(lambda canvases: (truth, None), task, "cpu")
    total, done, state = np.zeros(4), np.zeros(4, bool), None
    while not done.all():
        action, state = policy.predict(obs, state)
        obs, reward, done, _, _ = venv.step(action)
        total += reward
    assert total.tolist() == [2.0] * 4
    swapped = CanvasPolicy(lambda canvases: (truth.flip(1), None), task, "cpu")
    obs, _ = venv.reset(options={"evaluation_canvases": [0, 1, 2, 3]})
    total, done, state = np.zeros(4), np.zeros(4, bool), None
    while not done.all():
        action, state = swapped.predict(obs, state)
        obs, reward, done, _, _ = venv.step(action)
        total += reward
    assert total.sum() < 8  # the order matters


def test_every_family_predicts_through_the_one_base_predict():
    """``predict`` is written once (:class:`agents.policy.Policy`); families give ``_predict``."""
    from agents.canvas_policy import CanvasPolicy
    from agents.policy import AttentionPolicy, Policy
    from agents.supervised.policy import SupervisedPolicy

    families = [AttentionPolicy, CanvasPolicy, SupervisedPolicy]
    if importlib.util.find_spec("sb3_contrib") is not None:
        from agents.sb3.policy import SB3Policy

        families.append(SB3Policy)
    for family in families:
        assert family.predict is Policy.predict, family
        assert family._predict is not Policy._predict, family


def test_predict_refuses_what_it_cannot_play():
    agent = zoo.load("ram-cluttered60-6g")
    venv = gym.make_vec("ClutteredMNIST-v0", num_envs=3, split="valid")
    obs, _ = venv.reset(options={"evaluation_canvases": [0, 1, 2]})
    single = {key: value[0] for key, value in obs.items()}
    _, one_state = agent.predict(single)
    with pytest.raises(ValueError, match="state holds 1 environments, the observation 3"):
        agent.predict(obs, one_state, episode_start=np.zeros(3, bool))
    with pytest.raises(ValueError, match="episode_start has 2 entries for 3 environments"):
        agent.predict(obs, None, episode_start=np.ones(2, bool))
    with pytest.raises(ValueError, match="glimpse is uint8"):
        agent.predict({**obs, "glimpse": (obs["glimpse"] * 255).astype(np.uint8)})
    broken = obs["glimpse"].copy()
    broken[1, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="'glimpse' holds NaN"):
        agent.predict({**obs, "glimpse": broken})
    with pytest.raises(ValueError, match="disagree on the number of rows"):
        agent.predict({**obs, "location": obs["location"][:2]})
