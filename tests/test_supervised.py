"""Supervised full-canvas baselines: sizes matched to RAM, the attention agents' canvases, real
learning, exact resume, cards and the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from agents.cli.supervised import main
from agents.supervised import trainer as supervised_trainer
from agents.supervised.config import SupervisedConfig, ram_parameters
from agents.supervised.data import Canvases, answers_of
from agents.supervised.models import (
    Answers,
    FullCanvasCNN,
    build_baseline,
    count_parameters,
    multiply_adds,
)
from agents.supervised.trainer import SupervisedTrainer, load_model, load_supervised_checkpoint
from glimpse_env.envs import ENV_IDS, GlimpseVectorEnv, task_of
from glimpse_env.evaluation import evaluation_key


@pytest.mark.parametrize("name", ["fc", "cnn"])
def test_matched_baselines_have_rams_parameter_count(name):
    target, preset = ram_parameters("ClutteredMNIST-v0")
    assert preset == "ram-cluttered60-6g"
    model, _ = build_baseline(name, (1, 60, 60), Answers(1, 10), target)
    assert abs(count_parameters(model) - target) / target < 0.01


def test_large_cnn_is_larger_than_the_matched_one():
    target, _ = ram_parameters("ClutteredMNIST-v0")
    matched, sizes = build_baseline("cnn", (1, 60, 60), Answers(1, 10), target)
    large, large_sizes = build_baseline("cnn-large", (1, 60, 60), Answers(1, 10), target)
    assert large_sizes["width"] == 2 * sizes["width"]
    assert count_parameters(large) > 2 * count_parameters(matched)


def test_multiply_adds_count_conv_and_linear_layers():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 5 * 5, 7))
    # conv: 4 x 5 x 5 outputs x 9 taps; linear: 100 x 7.
    assert multiply_adds(model, torch.zeros(3, 1, 5, 5)) == 4 * 25 * 9 + 100 * 7


def test_multi_digit_tasks_get_one_head_per_answer(mnist_dir):
    pairs = task_of("ClutteredMNISTPairs-v0", split="valid", data_dir=mnist_dir)
    addition = task_of("MNISTAddition-v0", split="valid", data_dir=mnist_dir)
    assert answers_of(pairs) == Answers(2, 10) and answers_of(addition) == Answers(1, 19)
    images, answers = Canvases(addition).batch(np.full(4, 7, np.uint64), np.arange(4))
    assert images.shape == (4, 1, 100, 100) and answers.shape == (4, 1)
    model = FullCanvasCNN(4, 16, answers_of(pairs))
    assert model(images).shape == (4, 2, 10)


@pytest.mark.parametrize("split", ["valid", "test"])
def test_baselines_are_scored_on_the_attention_agents_canvases(mnist_dir, split):
    """The evaluation canvases are the ones agents.evaluation gives every agent."""
    task = task_of("ClutteredMNIST-v0", split=split, data_dir=mnist_dir)
    images, answers = next(Canvases(task).evaluation_batches(32, 32, eval_seed=20140624))
    task = {**ENV_IDS["ClutteredMNIST-v0"], "data_dir": str(mnist_dir)}
    env = GlimpseVectorEnv(32, output="torch", split=split, **task)
    env.reset_to(evaluation_key(20140624), np.arange(32))
    assert torch.equal((images[:, 0] * 255).round().to(torch.uint8), env.canvases)
    assert torch.equal(answers[:, 0], env.episodes.labels)


def _config(tmp_path, **changes) -> SupervisedConfig:
    values = dict(
        env_id="TranslatedMNIST-v0", model="fc", batch_size=32, updates=6, eval_every=3,
        eval_canvases=64, final_eval_canvases=64, eval_batch_size=64, checkpoint_every=3,
        log_every=3, num_threads=1,
    )  # fmt: skip
    values.update(changes)
    return SupervisedConfig(**values)


def test_fc_learns_mnist(tmp_path, mnist_dir):
    config = _config(
        tmp_path, env_id="MNIST-v0", batch_size=64, updates=300, eval_every=300, eval_canvases=500,
        final_eval_canvases=500, eval_batch_size=500, checkpoint_every=300,
        data_dir=str(mnist_dir),
    )  # fmt: skip
    final = SupervisedTrainer(config, tmp_path / "run", progress=False).train().final
    assert final.progress == 300 and final.best_valid["progress"] == 300
    assert final.weights == "best.pt" and final.test_error_mc is None  # deterministic
    assert final.valid_error_greedy < 25.0 and final.test_error_greedy < 25.0  # chance is 90%
    assert (tmp_path / "run" / "best.pt").is_file()
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    losses = [m["train/loss"] for m in metrics if "train/loss" in m]
    assert losses[-1] < losses[0]


def test_resumed_run_matches_the_uninterrupted_one(tmp_path, mnist_dir):
    config = _config(tmp_path, model="cnn", matched_parameters=20_000, data_dir=str(mnist_dir))
    whole = SupervisedTrainer(config, tmp_path / "whole", progress=False)
    whole.train()
    interrupted = SupervisedTrainer(config, tmp_path / "half", progress=False)
    for _ in range(3):  # what a Ctrl-C after update 3 leaves
        interrupted.train_step()
    interrupted.save_checkpoint()
    resumed = SupervisedTrainer.from_checkpoint(tmp_path / "half" / "checkpoint.pt", False)
    assert resumed.update == 3
    resumed.train()
    for key, value in whole.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


def test_resume_refuses_changes_that_alter_training(tmp_path, mnist_dir):
    config = _config(tmp_path, updates=3, data_dir=str(mnist_dir))
    SupervisedTrainer(config, tmp_path / "run", progress=False).train()
    with pytest.raises(ValueError, match="cannot change \\['lr'\\]"):
        SupervisedTrainer.from_checkpoint(tmp_path / "run" / "checkpoint.pt", lr=0.1)


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="model must be one of"):
        SupervisedConfig(model="resnet")
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        SupervisedConfig(batch_size=0)
    with pytest.raises(ValueError, match="lr must be a positive number"):
        SupervisedConfig(lr=float("nan"))


def test_command_line_trains_scores_and_writes_a_card(tmp_path, mnist_dir, capsys, monkeypatch):
    common = ["--num-threads", "1", "--data-dir", str(mnist_dir), "--no-progress"]
    status = main([
        "--env-id", "TranslatedMNIST-v0", "--model", "fc", "--updates", "4", "--batch-size", "16",
        "--eval-every", "2", "--eval-canvases", "50", "--final-eval-canvases", "50",
        "--checkpoint-every", "2", "--logdir", str(tmp_path / "runs"), *common,
    ])  # fmt: skip
    assert status == 0
    (run,) = (tmp_path / "runs").iterdir()
    assert "Finished 4 updates" in capsys.readouterr().out
    assert main(["--eval", str(run / "best.pt"), "--final-eval-canvases", "50", *common]) == 0
    assert "test error" in capsys.readouterr().out
    status = main([
        "--card", str(run / "best.pt"), "--name", "fc-test", "--card-dir", str(tmp_path / "cards"),
        "--final-eval-canvases", "50", "--no-progress",
    ])  # fmt: skip
    assert status == 0
    card = json.loads((tmp_path / "cards" / "fc-test.json").read_text())
    loaded = load_model(run / "best.pt")
    assert card["weights_sha256"] == loaded.sha256
    assert card["pixels_read"] == 60 * 60 and card["test"]["greedy"]["canvases"] == 50
    assert card["parameters"] == count_parameters(loaded.model)
    assert card["matched_to"]["model"] == "ram-translated60-6g"
    assert card["samples"] == card["updates"] * 16
    assert card["command_chain"][0].startswith("python train/supervised_baseline.py --env")
    # Loading reads the canvas shape the checkpoint records, not the training split ...
    with monkeypatch.context() as patch:
        patch.setattr(supervised_trainer, "Canvases", None)  # any use would raise
        assert load_model(run / "best.pt").sha256 == loaded.sha256
    # ... a checkpoint written before the shape was recorded still loads ...
    payload = load_supervised_checkpoint(run / "best.pt")
    assert payload.pop("canvas_shape") == [1, 60, 60]
    torch.save(payload, tmp_path / "old.pt")
    assert load_model(tmp_path / "old.pt").sha256 == loaded.sha256
    # ... and a damaged shape is one clear error.
    torch.save({**payload, "canvas_shape": [1, 60]}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="canvas_shape must be three positive integers"):
        load_model(tmp_path / "bad.pt")


def test_command_line_errors_are_one_line(tmp_path, capsys):
    assert main(["--eval", str(tmp_path / "missing.pt")]) == 2
    assert capsys.readouterr().err.startswith("error: no supervised baseline checkpoint at")
    not_ours = tmp_path / "other.pt"
    torch.save({"format": "something-else"}, not_ours)
    assert main(["--eval", str(not_ours)]) == 2
    assert "is not a glimpse-env supervised baseline checkpoint" in capsys.readouterr().err
    assert main(["--card", str(not_ours)]) == 2
    assert "--card needs --name" in capsys.readouterr().err


def test_counter_counts_recurrent_cells_per_sample():
    from agents.compute import MultiplyAddCounter

    cell = nn.LSTMCell(3, 5)
    with MultiplyAddCounter(cell) as count:
        cell(torch.zeros(2, 3))
    assert count.total == 2 * 4 * 5 * (3 + 5)  # batch x gates x hidden x (input + hidden)


@pytest.mark.parametrize("layers", [1, 2])
def test_counter_counts_a_whole_sequence_lstm_as_its_cells(layers):
    from agents.compute import MultiplyAddCounter

    lstm = nn.LSTM(3, 5, num_layers=layers)
    with MultiplyAddCounter(lstm) as count:
        lstm(torch.zeros(7, 2, 3))  # 7 steps, batch 2
    cells = [nn.LSTMCell(3, 5)] + [nn.LSTMCell(5, 5) for _ in range(layers - 1)]
    with MultiplyAddCounter(nn.ModuleList(cells)) as by_cells:
        for _ in range(7):
            for cell in cells:
                cell(torch.zeros(2, cell.input_size))
    assert count.total == by_cells.total > 0


@pytest.mark.parametrize("updates, evaluated", [(2, [2]), (4, [3, 4])])
def test_the_last_update_is_evaluated_even_off_the_eval_grid(
    tmp_path, mnist_dir, updates, evaluated
):
    """A run shorter than ``eval_every``, or not a multiple of it, still ends with a ``best.pt``
    chosen over every update's stretch and a final score."""
    config = _config(tmp_path, updates=updates, data_dir=str(mnist_dir))
    final = SupervisedTrainer(config, tmp_path / "run", progress=False).train().final
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert [m["update"] for m in metrics if "valid/error_greedy" in m] == evaluated
    assert final.progress == updates and final.best_valid["progress"] in evaluated
