"""The train / valid / test split (DeepMind's mnist-cluttered): what each split reads, in the data
layer, the single and vector envs, HDF5 files, and which split the trainer decides on."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import glimpse_env  # noqa: F401  (registers the ids)
from glimpse_env.data.hdf5 import read_canvas_hdf5, write_canvas_hdf5
from glimpse_env.data.mnist import SPLITS, load_mnist, load_mnist_file
from glimpse_env.envs.vector import GlimpseVectorEnv


def test_splits_are_the_documented_rows_of_the_mnist_files(mnist_dir):
    train_file = load_mnist_file("train", mnist_dir)
    test_file = load_mnist_file("test", mnist_dir)
    train, valid, test = (load_mnist(name, mnist_dir) for name in ("train", "valid", "test"))
    assert (len(train), len(valid), len(test)) == (50_000, 10_000, 10_000)
    np.testing.assert_array_equal(train.images, train_file.images[:50_000])
    np.testing.assert_array_equal(valid.images, train_file.images[50_000:])
    np.testing.assert_array_equal(valid.labels, train_file.labels[50_000:])
    np.testing.assert_array_equal(test.images, test_file.images)
    assert not valid.images.flags.writeable and not train.images.flags.writeable
    assert set(SPLITS) == {"train", "valid", "test"}
    with pytest.raises(ValueError, match="unknown MNIST split 'validation'"):
        load_mnist("validation", mnist_dir)


def _digit_rows(images: np.ndarray, pool: np.ndarray) -> set[int]:
    """Rows of ``pool`` (N, 28, 28) equal to some image of ``images`` (M, 28, 28)."""
    index = {bytes(d): i for i, d in enumerate(pool)}
    return {index[bytes(d)] for d in images if bytes(d) in index}


@pytest.mark.parametrize("env_id", ["ClutteredMNIST-v0", "TranslatedMNIST-v0", "MNIST-v0"])
def test_every_env_draws_its_digits_from_its_own_split(mnist_dir, env_id):
    train_file = load_mnist_file("train", mnist_dir)
    for split, rows in (("train", range(0, 50_000)), ("valid", range(50_000, 60_000))):
        venv = gym.make_vec(env_id, num_envs=200, split=split)
        venv.reset(seed=0)
        canvases = venv.canvases.numpy()
        sources = venv.episodes.sources.numpy()
        digits = train_file.images[np.asarray(rows)[sources]]
        # The digit is pasted whole somewhere on the canvas: its box holds it (plus clutter).
        for canvas, bbox, digit in zip(
            canvases[:20], venv.episodes.bboxes.numpy()[:20], digits[:20], strict=True
        ):
            x0, y0, x1, y1 = bbox
            assert np.all(canvas[y0:y1, x0:x1] >= digit)
        venv.close()
    single = gym.make(env_id, split="valid")
    single.reset(seed=1)
    assert single.unwrapped._episodes.config.split == "valid"
    with pytest.raises(ValueError, match="split must be one of"):
        gym.make(env_id, split="validation")


def test_vector_env_equals_single_envs_on_the_valid_split():
    venv = GlimpseVectorEnv(3, split="valid", num_glimpses=2)
    obs, _ = venv.reset(seed=11)
    singles = [gym.make("ClutteredMNIST-v0", split="valid", num_glimpses=2) for _ in range(3)]
    seeds = [11 + i for i in range(3)]
    for i, (env, seed) in enumerate(zip(singles, seeds, strict=True)):
        single_obs, _ = env.reset(seed=seed)
        np.testing.assert_array_equal(obs["glimpse"][i], single_obs["glimpse"])


def test_hdf5_writes_and_reads_a_valid_split(tmp_path, mnist_dir):
    path = write_canvas_hdf5(
        tmp_path / "c.hdf5", num_train=30, num_valid=20, num_test=10, canvas_size=40,
        num_distractors=2, data_dir=mnist_dir, progress=False,
    )  # fmt: skip
    arrays = {split: read_canvas_hdf5(path, split) for split in ("train", "valid", "test")}
    assert [len(arrays[s]) for s in ("train", "valid", "test")] == [30, 20, 10]
    env = GlimpseVectorEnv(4, dataset_path=str(path), split="valid", num_glimpses=1)
    env.reset(seed=0)
    valid_images = {bytes(c) for c in arrays["valid"].images}
    assert all(bytes(c) in valid_images for c in env.canvases.numpy())


def test_training_decides_on_valid_and_reports_test_only_at_the_end(tmp_path):
    from agents.runs.checkpoint import load_checkpoint
    from agents.runs.log import read_metrics
    from agents.training.config import TrainConfig
    from agents.training.trainer import Trainer

    config = TrainConfig(
        env_id="MNIST-v0", num_glimpses=2, hidden=16, glimpse_hidden=8, location_hidden=8,
        batch_size=8, updates=2, log_every=1, eval_every=1, eval_canvases=20,
        final_eval_canvases=30, eval_batch_size=30, num_threads=1,
    )  # fmt: skip
    trainer = Trainer(config, tmp_path / "run", progress=False)
    splits_read: list[str] = []
    evaluate = trainer.scorer.evaluate

    def spy(mode, split, num_canvases, progress=False):
        splits_read.append(split)
        return evaluate(mode, split, num_canvases, progress)

    trainer.scorer.evaluate = spy
    trainer.train()
    # Two evaluations during training (valid), then valid and test greedy + MC at the end.
    assert splits_read == ["valid", "valid", "valid", "valid", "test", "test"]
    records = read_metrics(tmp_path / "run")
    during = [r for r in records if "valid/error_greedy" in r]
    assert [r["update"] for r in during] == [1, 2]
    assert not any(k.startswith("test/") for r in records[:-1] for k in r)
    # best.pt holds the model of the lowest validation error (the first, on a tie).
    errors = [r["valid/error_greedy"] for r in during]
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    assert best["update"] == during[errors.index(min(errors))]["update"]
    assert best["best_valid"]["error_pct"] == min(errors)
