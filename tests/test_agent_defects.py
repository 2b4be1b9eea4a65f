"""Defects found by reading ``agents/`` as a maintainer would; one test each, each failing on
the code before its fix."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import glimpse_env  # noqa: F401  (registers the ids)
from agents.training.config import TrainConfig
from agents.training.trainer import Trainer
from glimpse_env.envs.vector import GlimpseVectorEnv
from glimpse_env.evaluation import EVAL_SEED

TINY = dict(
    env_id="MNIST-v0", num_glimpses=3, glimpse_hidden=16, location_hidden=8, hidden=16,
    batch_size=16, log_every=1, eval_every=0, eval_canvases=20, final_eval_canvases=20,
    eval_batch_size=20, checkpoint_every=1000, num_threads=1,
)  # fmt: skip


def _evaluation_canvas(env_id: str, split: str, index: int) -> tuple[np.ndarray, int]:
    """Canvas ``index`` of the evaluation protocol and its label, from the single env."""
    env = gym.make(env_id, split=split)
    _, info = env.reset(options={"evaluation_canvas": index, "eval_seed": EVAL_SEED})
    canvas, label = env.unwrapped.canvas.copy(), int(info["label"])
    env.close()
    return canvas, label


def test_sb3_pictures_draw_each_path_on_its_own_canvas():
    """A VecEnv that auto-resets on the last step held the next canvases when the pictures were
    drawn: cell i showed canvas i + 1 under path i and its caption."""
    pytest.importorskip("sb3_contrib")
    from agents.sb3.algorithms import make_vec_env
    from agents.sb3.config import BaselineConfig
    from agents.sb3.evaluation import evaluate_baseline

    config = BaselineConfig(
        algo="ppo", env_id="MNIST-v0", num_envs=4, eval_canvases=6, eval_batch_size=6,
        hyper=dict(n_steps=6, batch_size=24, n_epochs=1, policy_kwargs=dict(net_arch=[8])),
    )  # fmt: skip
    from stable_baselines3 import PPO

    venv, _ = make_vec_env(config, 4, "train")
    model = PPO("MultiInputPolicy", venv, n_steps=6, batch_size=24, seed=0)
    venv.close()
    examples = evaluate_baseline(model, config, 6, "test").examples
    assert examples is not None
    for i in range(6):
        canvas, label = _evaluation_canvas("MNIST-v0", "test", i)
        np.testing.assert_array_equal(examples.canvases[i], canvas)
        assert int(examples.labels[i]) == label  # the caption's label is this canvas's


def test_ctrl_c_during_eval_exits_130_without_a_traceback(monkeypatch, capsys):
    from agents.cli import attention as cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "evaluate_checkpoint", interrupted)
    assert cli.main("ram", "ram-cluttered60-6g", ["--eval", "anything.pt"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_load_refuses_changes_that_alter_the_model_or_task(tmp_path):
    from agents import zoo

    with pytest.raises(ValueError, match=r"cannot change \['num_glimpses'\]"):
        zoo.load("ram-cluttered60-6g", num_glimpses=8)
    zoo.load("ram-cluttered60-6g", eval_batch_size=50)  # an evaluation field is fine


def test_variable_clutter_can_be_set_from_training():
    config = TrainConfig(env_id="ClutteredMNIST-v0", num_distractors=(2, 6))
    assert config.num_distractors == [2, 6]
    again = TrainConfig.from_dict(config.to_dict())  # as config.json gives it back
    assert again.task_kwargs()["num_distractors"] == [2, 6]
    with pytest.raises(ValueError, match="num_distractors"):
        TrainConfig(num_distractors=(6, 2))
    from agents.cli.attention import build_parser

    args = build_parser("ram", "ram-cluttered60-6g").parse_args(["--num-distractors", "2-6"])
    assert args.num_distractors == [2, 6]


def test_edram_warm_start_on_a_task_with_other_classes_resets_only_its_head(tmp_path, capsys):
    shared = {k: v for k, v in TINY.items() if k not in ("glimpse_hidden", "location_hidden")}
    edram = dict(
        shared, agent="edram", env_id="ClutteredMNIST100-v0", canvas_size=60, window_size=14,
        conv_channels=2, features=16, hidden=16, classifier_hidden=16, batch_size=8, updates=1,
        num_glimpses=2, final_eval_canvases=8, eval_batch_size=8,
    )  # fmt: skip
    Trainer(TrainConfig(**edram), tmp_path / "parent", progress=False).train(final_evaluation=False)
    child = TrainConfig(
        **{**edram, "env_id": "MNISTAddition-v0", "num_digits": 1, "target": "sequence",
           "classes": 4, "init_from": str(tmp_path / "parent" / "checkpoint.pt")}
    )  # fmt: skip
    trainer = Trainer(child, tmp_path / "child", progress=False)
    assert "the classifier answers 10 classes, this task 4" in capsys.readouterr().out
    assert trainer.model.classifier.out.bias.shape == (4,)


def test_the_run_log_is_closed_when_training_diverges(tmp_path, monkeypatch):
    from agents.runs import log as log_module
    from agents.training.trainer import TrainingDiverged

    closed = []
    original = log_module.RunLog.close
    monkeypatch.setattr(
        log_module.RunLog, "close", lambda self: (closed.append(True), original(self))[1]
    )
    trainer = Trainer(TrainConfig(**TINY, updates=3), tmp_path / "run", progress=False)
    with torch.no_grad():
        trainer.model.classifier.weight.fill_(float("nan"))
    with pytest.raises(TrainingDiverged):
        trainer.train()
    assert closed


def test_a_rollout_keeps_its_targets_when_the_env_is_reset_again():
    from agents.training.registry import build_agent, glimpse_shape
    from agents.training.rollout import rollout
    from glimpse_env.evaluation import evaluation_key

    config = TrainConfig(**{**TINY, "env_id": "TranslatedMNIST-v0"})  # digits anywhere
    model = build_agent(config, glimpse_shape(config))
    env = GlimpseVectorEnv(4, output="torch", split="valid", **config.task_kwargs())
    episodes = rollout(model, env, env.reset_to(evaluation_key(EVAL_SEED), np.arange(4)), 0.1)
    bboxes, answers = episodes.bboxes.clone(), episodes.answers.clone()
    env.reset(options={"reset_mask": np.array([True, False, True, False])})  # in place
    torch.testing.assert_close(episodes.bboxes, bboxes)
    torch.testing.assert_close(episodes.answers, answers)


def test_evaluate_policy_does_not_call_a_users_policy_greedy():
    from agents.policy import evaluate_policy

    class Random:
        """A user's stochastic policy: samples whatever ``deterministic`` says."""

        def __init__(self) -> None:
            self.rng = np.random.default_rng(0)

        def predict(self, obs, state=None, episode_start=None, deterministic=True):
            n = len(obs["location"])
            location = self.rng.uniform(-1, 1, (n, 2)).astype(np.float32)
            return {"location": location, "label": self.rng.integers(0, 10, n)}, None

    result = evaluate_policy(Random(), "MNIST-v0", "valid", 8, batch_size=4)
    assert result.mode == "policy" and "greedy" not in str(result)
