"""EDRAM: identity start, backpropagation through the sensor, training, HDF5 ground truth."""

from __future__ import annotations

import math

import h5py
import numpy as np
import pytest
import torch
from torch import nn

from agents.cli.attention import main
from agents.models import edram as edram_module
from agents.models.edram import EDRAM, EDRAMSizes, StepBatchNorm, edram_loss
from agents.training import objectives
from agents.training.config import TrainConfig
from agents.training.presets import preset_config
from agents.training.trainer import Trainer
from glimpse_env.data.canvas import bboxes_to_affine

TINY = EDRAMSizes(window=14, channels=4, features=16, hidden=16, classifier_hidden=16)
START = (math.tanh(1.0), 0.0, 0.0, 0.0, math.tanh(1.0), 0.0)  # tanh of the identity bias


def test_first_glimpse_comes_from_the_context_and_emission_starts_at_tanh_identity():
    model = EDRAM(3, TINY)
    output = model(torch.randint(0, 256, (4, 40, 40), dtype=torch.uint8))
    assert output.logits.shape == (4, 3, 10) and output.thetas.shape == (4, 3, 6)
    # The emission's weights start at zero, so every step looks through tanh(identity).
    torch.testing.assert_close(output.thetas, torch.tensor(START).expand(4, 3, 6))


def test_emission_is_tanh_with_scales_clipped_to_the_unit_interval():
    model = EDRAM(1, TINY)
    with torch.no_grad():
        model.emission.bias.copy_(torch.tensor([-3.0, 5.0, 9.0, -9.0, 2.0, -0.2]))
    theta = model.emit(torch.zeros(2, TINY.hidden))
    expected = torch.tensor([0.0, math.tanh(5), math.tanh(9), -math.tanh(9), math.tanh(2),
                             math.tanh(-0.2)])  # fmt: skip
    torch.testing.assert_close(theta, expected.expand(2, 6))
    assert float(theta[:, [0, 4]].min().detach()) >= 0 and float(theta.abs().max().detach()) <= 1


def test_the_authors_architecture():
    model = EDRAM(8, EDRAMSizes())
    convs = model.glimpse_net.convs
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 160, 192]
    assert [c.padding for c in convs] == [(1, 1), (0, 0), (1, 1), (1, 1), (1, 1), (0, 0)]
    what, where = model.glimpse_net.what, model.glimpse_net.where
    assert (what.in_features, what.out_features) == (3072, 1024)
    assert (where.in_features, where.out_features) == (6, 1024)
    assert model.encoder.hidden_size == model.decoder.hidden_size == 512
    head = model.classifier
    assert (head.fc1.in_features, head.fc1.out_features, head.fc2.out_features) == (512, 1024, 1024)
    context = [m for m in model.context_net.layers if isinstance(m, nn.Conv2d)]
    assert [(c.kernel_size, c.out_channels) for c in context] == [((5, 5), 16), ((3, 3), 16),
                                                                  ((3, 3), 32)]  # fmt: skip
    assert model.context_net(torch.rand(2, 12, 12)).shape == (2, 512)  # the decoder's state


def test_batch_norm_statistics_are_kept_per_step_and_used_in_evaluation(monkeypatch):
    """On a fixed batch, each step's running statistics are that step's training-time batch
    statistics, they differ between steps, and evaluation reproduces training's outputs."""
    monkeypatch.setattr(edram_module, "BN_MOMENTUM", 1.0)  # running stats = the last batch's
    torch.manual_seed(0)
    model = EDRAM(3, TINY)
    with torch.no_grad():  # make the steps look at different windows
        model.emission.weight.normal_(0, 0.5)
    # Smooth canvases: a window moved by rounding differences reads nearly the same pixels.
    blobs = torch.rand(1024, 1, 40, 40) * (torch.rand(1024, 1, 40, 40) < 0.05)
    canvases = torch.nn.functional.avg_pool2d(blobs, 9, stride=1, padding=4).squeeze(1) * 20
    first_conv = model.glimpse_net.convs[0]
    seen: list[torch.Tensor] = []
    hooks = [first_conv.register_forward_hook(lambda m, i, out: seen.append(out.detach()))]
    norms = [m for m in model.modules() if isinstance(m, (StepBatchNorm, nn.BatchNorm2d))]
    per_channel: dict[nn.Module, int] = {}  # values behind each channel's statistics

    def count(module, inputs):
        per_channel[module] = inputs[0].numel() // inputs[0].shape[1]

    hooks += [m.register_forward_pre_hook(count) for m in norms]
    training = model(canvases)
    for hook in hooks:
        hook.remove()
    norm = model.glimpse_net.conv_norms[0]
    for step, out in enumerate(seen):
        torch.testing.assert_close(norm.running_mean[step], out.mean((0, 2, 3)))
        torch.testing.assert_close(norm.running_var[step], out.var((0, 2, 3), unbiased=True))
    assert not torch.allclose(norm.running_mean[0], norm.running_mean[1], rtol=0.05)
    # Running variances are unbiased, training normalises by the biased one: rescale them so
    # that evaluation must reproduce training exactly.
    with torch.no_grad():
        for m in norms:
            n = per_channel[m]
            m.running_var.mul_((n - 1) / n)
    model.eval()
    with torch.no_grad():
        evaluation = model(canvases)
    torch.testing.assert_close(evaluation.thetas, training.thetas.detach(), rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(evaluation.logits, training.logits.detach(), rtol=1e-3, atol=1e-3)


def test_classification_gradient_reaches_the_emission_through_the_sensor():
    model = EDRAM(3, TINY)
    with torch.no_grad():  # move the emission off its start so the sensor's slope matters
        model.emission.weight.normal_(0, 0.1)
    canvases = torch.rand(4, 40, 40)
    output = model(canvases)
    labels = torch.tensor([1, 2, 3, 4])
    _, classification, _ = edram_loss(output, labels, torch.zeros(4, 6))
    classification.backward()
    # No REINFORCE: the class loss trains where to look by backpropagation alone.
    assert model.emission.weight.grad is not None
    assert float(model.emission.weight.grad.abs().sum()) > 0


def test_loss_sums_over_steps_and_weights_the_six_parameters():
    model = EDRAM(2, TINY)
    output = model(torch.zeros(2, 20, 20))
    target = torch.tensor([START, START]) + torch.tensor([0.1, 0.1, 0, 0, 0, 0])
    _, _, location = edram_loss(output, torch.zeros(2, dtype=torch.int64), target)
    # per step 0.01 * 1.0 + 0.01 * 0.5, summed over 2 steps, averaged over the batch
    assert location.item() == pytest.approx(2 * (0.01 * 1.0 + 0.01 * 0.5), rel=1e-5)


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


def _authors_layout_file(path, size: int = 40, rows=(("train", 24), ("valid", 8), ("test", 8))):
    """A canvas file written with plain h5py in the layout of the authors' converter (older
    Fuel: a split array with only split/source/start/stop, labels (N, 1)), whose locations are
    not whole-pixel boxes."""
    total = sum(n for _, n in rows)
    rng = np.random.default_rng(0)
    locations = np.zeros((total, 6), dtype=np.float32)
    locations[:, 0] = locations[:, 4] = 28 / size
    locations[:, [2, 5]] = rng.uniform(-0.5, 0.5, (total, 2))  # e.g. 0.1234..., off the grid
    split = []
    start = 0
    for name, n in rows:
        for source in ("features", "labels", "locations"):
            split.append((name.encode(), source.encode(), start, start + n))
        start += n
    dtype = [("split", "S5"), ("source", "S15"), ("start", "i8"), ("stop", "i8")]
    with h5py.File(path, "w") as f:
        f.create_dataset("features", data=rng.integers(0, 256, (total, 1, size, size), np.uint8))
        f.create_dataset("labels", data=rng.integers(0, 10, (total, 1)).astype(np.uint8))
        f.create_dataset("locations", data=locations)
        f.attrs["split"] = np.array(split, dtype=dtype)
    return locations


def test_dataset_targets_are_the_files_locations_exactly(tmp_path, monkeypatch, capsys):
    path = tmp_path / "mnist_cluttered.hdf5"
    locations = _authors_layout_file(path)
    config = TrainConfig(
        agent="edram", env_id="ClutteredMNIST100-v0", dataset_path=str(path), num_glimpses=2,
        window_size=14, conv_channels=4, features=16, hidden=16, classifier_hidden=16,
        batch_size=8, num_threads=1,
    )  # fmt: skip
    trainer = Trainer(config, tmp_path / "unused", progress=False)
    targets = []
    real_loss = objectives.edram_loss
    monkeypatch.setattr(
        objectives, "edram_loss", lambda out, y, target, w: targets.append(target) or real_loss(
            out, y, target, w)
    )  # fmt: skip
    trainer.train_step()
    rows = trainer.env.episodes.sources.numpy()  # the file's train rows of this update
    assert (rows < 24).all()
    np.testing.assert_array_equal(targets[0].numpy(), locations[rows])
    # Not what whole-pixel boxes would give: the file's values are used as they are.
    boxes = trainer.env.episodes.bboxes
    assert not np.allclose(bboxes_to_affine(boxes, 40, 40), locations[rows], atol=1e-4)
    # A partial reset (the vector env's autoreset) keeps each canvas's own row.
    episodes = trainer.env.episodes
    episodes.reset(np.arange(8) % 2 == 0)
    rows = episodes.sources.numpy()
    np.testing.assert_array_equal(episodes.target_affine()[:, 0].numpy(), locations[rows])

    argv = ["--dataset", str(path), "--logdir", str(tmp_path), "--no-progress", "--updates", "2"]
    argv += ["--batch-size", "8", "--window-size", "14", "--conv-channels", "4", "--features"]
    argv += ["16", "--hidden", "16", "--classifier-hidden", "16", "--final-eval-canvases", "8"]
    argv += ["--eval-batch-size", "8", "--num-glimpses", "2", "--eval-canvases", "8"]
    assert main("edram", "edram-cluttered100-small", argv) == 0
    assert "greedy test error" in capsys.readouterr().out


def test_edram_presets():
    paper = preset_config("edram-cluttered100")
    assert (paper.window_size, paper.conv_channels, paper.features) == (26, 64, 1024)
    assert (paper.hidden, paper.classifier_hidden) == (512, 1024)
    assert paper.lr == 1e-4 and paper.batch_size == 128 and paper.max_grad_norm == 10.0
    assert paper.task_kwargs()["num_glimpses"] == 8
    assert preset_config("edram-cluttered100-small").agent == "edram"
