"""A card's figures do not depend on how evaluation is batched: the Monte-Carlo noise of each
sampled path is keyed by its canvas and path (``CanvasNoise``), not by its place in a batch."""

from __future__ import annotations

import numpy as np
import pytest

from agents import zoo
from agents.evaluation import CanvasNoise
from agents.training.config import TrainConfig
from agents.training.trainer import Trainer
from glimpse_env.keyed_random import random_normal


def test_keyed_normals_are_standard_and_pure_functions_of_their_counters():
    keys = np.full(20_000, 12345, dtype=np.uint64)
    draws = random_normal(keys, np.arange(20_000), stream=3, count=2)
    assert abs(draws.mean()) < 0.03 and abs(draws.std() - 1) < 0.03
    again = random_normal(keys[[7, 3]], np.array([7, 3]), stream=3, count=2)
    np.testing.assert_array_equal(again, draws[[7, 3]])
    noise = CanvasNoise(99, np.array([4, 4, 5]), np.array([0, 1, 0]))
    alone = CanvasNoise(99, np.array([5]), np.array([0]))
    np.testing.assert_array_equal(noise.normal(2, "cpu")[2], alone.normal(2, "cpu")[0])
    assert not np.array_equal(noise.normal(2, "cpu")[0], noise.normal(2, "cpu")[1])
    with pytest.raises(ValueError, match="paths must be in"):
        CanvasNoise(1, np.array([0]), np.array([-1]))


def test_greedy_and_mc_errors_are_identical_for_any_eval_batch_size(tmp_path):
    config = TrainConfig(
        env_id="ClutteredMNIST-v0", num_glimpses=3, hidden=16, glimpse_hidden=8,
        location_hidden=8, batch_size=32, updates=150, lr=5e-3, eval_every=0, log_every=50,
        final_eval_canvases=60, mc_samples=3, location_std=0.3, num_threads=1,
    )  # fmt: skip
    Trainer(config, tmp_path / "run", progress=False).train(final_evaluation=False)
    figures = set()
    for batch in (1, 7, 1000):
        agent = zoo.load(tmp_path / "run" / "checkpoint.pt", eval_batch_size=batch)
        greedy, mc = agent.evaluate("test", 60)
        figures.add((greedy.errors, mc.errors))
    assert len(figures) == 1, figures
