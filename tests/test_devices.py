"""Device-agnostic: on an accelerator the env and the retina give exactly the CPU results.

Skipped where no CUDA device exists (CI has none; a session with a GPU runs them and records the
result in its note). The CPU path is covered by every other test.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from glimpse_env import GlimpseVectorEnv, extract_glimpses

needs_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device (CI has none; run on a GPU machine)"
)


@needs_cuda
def test_native_vector_env_on_device_equals_cpu(device="cuda"):
    cpu = GlimpseVectorEnv(64, output="torch", device="cpu", initial_location="random")
    dev = GlimpseVectorEnv(64, output="torch", device=device, initial_location="random")
    a, ai = cpu.reset(seed=5)
    b, bi = dev.reset(seed=5)
    assert b["glimpse"].device.type == torch.device(device).type
    torch.testing.assert_close(a["glimpse"], b["glimpse"].cpu(), rtol=0, atol=0)
    rng = np.random.default_rng(0)
    for _ in range(14):
        loc = torch.from_numpy(rng.uniform(-1, 1, (64, 2)).astype(np.float32))
        label = ai["label"]
        a, ra, ta, _, ai = cpu.step({"location": loc, "label": label})
        b, rb, tb, _, bi = dev.step({"location": loc.to(device), "label": label.to(device)})
        torch.testing.assert_close(a["glimpse"], b["glimpse"].cpu(), rtol=0, atol=0)
        assert torch.equal(ra, rb.cpu()) and torch.equal(ta, tb.cpu())
        assert torch.equal(ai["bbox"], bi["bbox"].cpu())


@needs_cuda
def test_retina_on_device_equals_cpu(device="cuda"):
    images = torch.randint(0, 256, (32, 100, 100), dtype=torch.uint8)
    locations = torch.rand(32, 2) * 2.4 - 1.2
    want = extract_glimpses(images, locations, 12, 4, 2)
    got = extract_glimpses(images.to(device), locations.to(device), 12, 4, 2)
    torch.testing.assert_close(got.cpu(), want, rtol=0, atol=0)


@needs_cuda
@pytest.mark.parametrize("agent", ["ram", "dram", "edram"])
def test_training_and_resume_on_device(tmp_path, agent, device="cuda"):
    from agents.training.config import TrainConfig
    from agents.training.trainer import Trainer
    from agents.zoo import evaluate_checkpoint

    config = TrainConfig(
        agent=agent, env_id="ClutteredMNIST-v0", context_size=24 if agent == "dram" else None,
        hidden=32, glimpse_hidden=16, location_hidden=8, features=32, conv_channels=4,
        classifier_hidden=32, window_size=14 if agent == "edram" else 12,  # EDRAM needs >= 14
        batch_size=16, updates=4, log_every=1,
        final_eval_canvases=40, eval_batch_size=40, device=device,
    )  # fmt: skip
    result = Trainer(config, tmp_path / "run", progress=False).train()
    assert result.greedy is not None and result.greedy.total == 40
    greedy, _ = evaluate_checkpoint(tmp_path / "run" / "checkpoint.pt", device=device)
    assert greedy.errors == result.greedy.errors  # the saved model answers as the trained one
    resumed = Trainer.from_checkpoint(tmp_path / "run" / "checkpoint.pt", updates=6)
    assert next(resumed.model.parameters()).device.type == "cuda"
    assert resumed.train().update == 6
