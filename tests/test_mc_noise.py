"""benchmarks/mc_noise.py: a model's Monte-Carlo error against the spread of its paths."""

import sys
from pathlib import Path

from agents import zoo
from agents.training.config import TrainConfig
from agents.training.trainer import Trainer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from mc_noise import main, noise_rows

SMALL = dict(
    env_id="MNIST-v0", num_glimpses=2, hidden=16, glimpse_hidden=8, location_hidden=8,
    batch_size=16, updates=20, lr=3e-3, eval_every=0, final_eval_canvases=40,
    eval_batch_size=100, num_threads=1,
)  # fmt: skip


def test_paths_without_spread_answer_as_the_greedy_path(tmp_path):
    Trainer(TrainConfig(**SMALL), tmp_path, progress=False).train()
    trained = zoo.load(tmp_path / "checkpoint.pt")
    greedy, rows = noise_rows(trained, [1e-7, 0.5], "valid", 300)
    # ten paths a ten-millionth of the canvas apart are the greedy path ten times over
    assert rows[0].paths == trained.config.mc_samples and rows[0].mc.errors == greedy.errors
    # a spread of half the canvas sees other places: another answer on some canvases
    assert rows[1].mc.errors != greedy.errors
    assert (rows[-1].std, rows[-1].paths) == (trained.config.location_std, 1)
    assert all(row.mc.total == 300 and row.mc.split == "valid" for row in rows)


def test_bad_input_gets_one_clear_error(tmp_path, capsys):
    assert main([str(tmp_path / "missing.pt")]) == 2
    assert "missing.pt" in capsys.readouterr().err
