"""EDRAM: identity start, backpropagation through the sensor, training, HDF5 ground truth."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from agents.models.edram import EDRAM, EDRAMSizes, edram_loss
from agents.training.cli import main
from agents.training.config import TrainConfig, preset_config
from agents.training.trainer import Trainer
from glimpse_env.affine_sensor import IDENTITY
from glimpse_env.data.canvas import bboxes_to_affine
from glimpse_env.data.hdf5 import write_canvas_hdf5

TINY = EDRAMSizes(window=12, channels=4, features=16, hidden=16, classifier_hidden=16)


def test_first_glimpse_is_the_whole_canvas_and_emission_starts_at_identity():
    model = EDRAM(3, TINY)
    output = model(torch.randint(0, 256, (4, 40, 40), dtype=torch.uint8))
    identity = torch.tensor(IDENTITY).expand(4, 6)
    assert output.logits.shape == (4, 3, 10) and output.thetas.shape == (4, 3, 6)
    assert torch.equal(output.thetas[:, 0], identity)
    assert torch.allclose(output.emitted, identity.unsqueeze(1).expand(4, 3, 6))


def test_classification_gradient_reaches_the_emission_through_the_sensor():
    model = EDRAM(3, TINY)
    with torch.no_grad():  # move the emission off the identity so the sensor's slope matters
        model.emission.weight.normal_(0, 0.1)
    canvases = torch.rand(4, 40, 40)
    output = model(canvases)
    labels = torch.tensor([1, 2, 3, 4])
    _, classification, _ = edram_loss(output, labels, torch.zeros(4, 6))
    classification.backward()
    # No REINFORCE: the class loss trains where to look by backpropagation alone.
    assert model.emission.weight.grad is not None
    assert float(model.emission.weight.grad.abs().sum()) > 0


def test_affine_loss_weights_the_six_parameters():
    model = EDRAM(1, TINY)
    output = model(torch.zeros(2, 20, 20))
    target = torch.tensor([IDENTITY, IDENTITY]) + torch.tensor([0.1, 0.1, 0, 0, 0, 0])
    _, _, location = edram_loss(output, torch.zeros(2, dtype=torch.int64), target)
    assert location.item() == pytest.approx(0.01 * 1.0 + 0.01 * 0.5)  # weights 1 and 0.5


def test_short_edram_training_on_real_data_beats_chance_by_far(tmp_path):
    config = TrainConfig(
        agent="edram", env_id="MNIST-v0", num_glimpses=3, window_size=16, conv_channels=8,
        features=64, hidden=64, classifier_hidden=64, batch_size=32, updates=150, lr=3e-3,
        num_threads=1, eval_every=0, log_every=50, final_eval_canvases=500, eval_batch_size=500,
    )  # fmt: skip
    result = Trainer(config, tmp_path / "run", progress=False).train()
    assert result.greedy is not None
    assert result.greedy.error_pct < 50.0, result.greedy  # chance: 90%; measured ~10%
    assert result.mc is not None and result.mc.errors == result.greedy.errors  # deterministic


def test_trains_from_an_hdf5_file_whose_locations_are_the_ground_truth(tmp_path, capsys):
    path = tmp_path / "mnist_cluttered.hdf5"
    write_canvas_hdf5(path, num_train=64, num_test=32, canvas_size=40, num_distractors=2,
                      progress=False)  # fmt: skip
    config = TrainConfig(
        agent="edram", env_id="ClutteredMNIST100-v0", dataset_path=str(path), num_glimpses=2,
        window_size=12, conv_channels=4, features=16, hidden=16, classifier_hidden=16,
        batch_size=8,
    )  # fmt: skip
    trainer = Trainer(config, tmp_path / "unused", progress=False)
    _, info = trainer.env.reset_to(trainer.train_keys, np.zeros(8, dtype=np.int64))
    with h5py.File(path) as f:
        rows = trainer.env.episodes.sources.numpy()
        locations = f["locations"][:][rows]
    np.testing.assert_allclose(bboxes_to_affine(info["bbox"], 40, 40), locations, atol=1e-6)
    argv = ["--dataset", str(path), "--logdir", str(tmp_path), "--no-progress", "--updates", "2"]
    argv += ["--batch-size", "8", "--window-size", "12", "--conv-channels", "4", "--features"]
    argv += ["16", "--hidden", "16", "--classifier-hidden", "16", "--final-eval-canvases", "32"]
    argv += ["--eval-batch-size", "32", "--num-glimpses", "2"]
    assert main("edram", "edram-cluttered100-small", argv) == 0
    assert "greedy test error" in capsys.readouterr().out


def test_edram_presets():
    paper = preset_config("edram-cluttered100")
    assert (paper.window_size, paper.hidden, paper.classifier_hidden) == (26, 512, 1024)
    assert paper.lr == 1e-4 and paper.batch_size == 128
    assert preset_config("edram-cluttered100-small").agent == "edram"
