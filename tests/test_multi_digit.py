"""Several digits per canvas (Ba et al. 2014), variable clutter and the agent's first move."""

from __future__ import annotations

import gymnasium as gym
import h5py
import numpy as np
import pytest
import torch

from glimpse_env.data.canvas import CanvasGenerator, min_canvas_size
from glimpse_env.data.hdf5 import read_canvas_hdf5, write_canvas_hdf5
from glimpse_env.envs.task import task_config
from glimpse_env.keyed_random import random_integers
from glimpse_env.retina import extract_glimpses, integral_image
from tests.test_canvas import _reference_canvas


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("num_digits,size", [(2, 100), (3, 140)])
def test_digits_do_not_overlap_and_are_in_reading_order(mnist_train, num_digits, size):
    gen = CanvasGenerator(mnist_train.images, mnist_train.labels, size, 0, 8, num_digits=num_digits)
    keys = np.arange(300, dtype=np.uint64)
    batch = gen.generate(keys, np.zeros(300, dtype=np.int64))
    assert batch.labels.shape == (300, num_digits) and batch.bboxes.shape == (300, num_digits, 4)
    idx = gen.digit_indices(keys, np.zeros(300, dtype=np.int64))
    for i in range(300):
        boxes = batch.bboxes[i].tolist()
        for j in range(num_digits):
            for k in range(j + 1, num_digits):
                assert not _overlap(boxes[j], boxes[k]), (i, boxes)
        assert boxes == sorted(boxes, key=lambda b: (b[0], b[1]))  # left edge, then top edge
        # No clutter, no overlap: each box holds exactly one of the canvas's source digits.
        image = batch.images[i].numpy()
        shown = []
        for x0, y0, x1, y1 in boxes:
            patch = image[y0:y1, x0:x1]
            match = [d for d in idx[i] if np.array_equal(patch, mnist_train.images[d])]
            assert match, "each box must hold one of the drawn digits"
            shown.append(match[0])
        assert sorted(shown) == sorted(idx[i].tolist())
        assert batch.labels[i].tolist() == [int(mnist_train.labels[d]) for d in shown]
    # The second digit is not confined to a few places: its corners spread over the canvas.
    x0 = batch.bboxes[:, :, 0].numpy().ravel()
    assert x0.min() <= 2 and x0.max() >= size - 28 - 2


def test_consecutive_canvases_take_consecutive_digits_of_one_permutation(mnist_test):
    digits, labels = mnist_test.images[:60], mnist_test.labels[:60]
    gen = CanvasGenerator(digits, labels, 100, 0, 8, num_digits=2)
    idx = gen.digit_indices(np.full(30, 7, np.uint64), np.arange(30))  # one pass: 30 x 2 digits
    assert sorted(idx.ravel().tolist()) == list(range(60))


def test_canvas_too_small_for_the_digits_is_rejected(mnist_test):
    assert min_canvas_size(1) == 28 and min_canvas_size(2) == 83
    with pytest.raises(ValueError, match="need canvas_size >= 83"):
        CanvasGenerator(mnist_test.images, mnist_test.labels, 82, 0, 8, num_digits=2)
    with pytest.raises(ValueError, match="need canvas_size >= 83"):
        task_config(canvas_size=60, num_digits=2)
    # Always placeable from the bound on: many canvases at exactly the minimum size.
    gen = CanvasGenerator(mnist_test.images, mnist_test.labels, 83, 0, 8, num_digits=2)
    batch = gen.generate(np.arange(2000, dtype=np.uint64), np.zeros(2000, dtype=np.int64))
    a, b = batch.bboxes[:, 0].numpy(), batch.bboxes[:, 1].numpy()
    separated = (a[:, 2] <= b[:, 0]) | (b[:, 2] <= a[:, 0]) | (a[:, 3] <= b[:, 1])
    assert (separated | (b[:, 3] <= a[:, 1])).all()


def test_variable_clutter_is_the_recipe_with_a_count_drawn_per_canvas(mnist_train):
    low, high, size = 4, 50, 120
    gen = CanvasGenerator(mnist_train.images, mnist_train.labels, size, (low, high), 8)
    keys = np.array([3, 3, 99, 2**63 + 5], np.uint64)
    episodes = np.array([0, 1, 0, 70000])
    batch = gen.generate(keys, episodes)
    counts = low + random_integers(keys, episodes, 6, 1, high - low + 1)[:, 0]
    assert len(set(counts.tolist())) > 1
    digit_idx = gen.digit_indices(keys, episodes)[:, 0]
    for i in range(4):
        ref, box = _reference_canvas(
            mnist_train.images, keys[i], episodes[i], digit_idx[i], size, int(counts[i]), 8
        )
        np.testing.assert_allclose(batch.images[i].numpy() / 255.0, ref, atol=0.5 / 255)
        assert tuple(batch.bboxes[i, 0].tolist()) == box
    fixed = CanvasGenerator(mnist_train.images, mnist_train.labels, size, (8, 8), 8)
    plain = CanvasGenerator(mnist_train.images, mnist_train.labels, size, 8, 8)
    assert torch.equal(fixed.generate(keys, episodes).images, plain.generate(keys, episodes).images)


@pytest.mark.parametrize("bad", [(5, 4), (-1, 3), (1, 2, 3), "4-50", 2.5])
def test_bad_distractor_ranges_are_rejected(bad):
    with pytest.raises(ValueError, match="num_distractors"):
        task_config(num_distractors=bad)


def _play(env, labels_at_answers, seed=0):
    """One episode naming ``labels_at_answers`` at the scored steps; returns the rewards."""
    _, info = env.reset(seed=seed)
    config = env.unwrapped.config
    rewards, answers = [], iter(labels_at_answers)
    for step in range(1, config.episode_length + 1):
        label = next(answers) if step in config.answer_steps else 0
        _, reward, terminated, truncated, info = env.step(
            {"location": np.zeros(2, np.float32), "label": label}
        )
        rewards.append(reward)
        assert terminated == (step == config.episode_length) and not truncated
    return rewards, info


def test_pairs_reward_each_digit_named_in_reading_order():
    env = gym.make("ClutteredMNISTPairs-v0")
    _, info = env.reset(seed=4)
    first, second = info["labels"].tolist()
    assert info["bboxes"].shape == (2, 4) and "label" not in info
    assert info["bboxes"][0, 0] <= info["bboxes"][1, 0]
    rewards, last = _play(env, [first, second], seed=4)
    assert len(rewards) == 12 and rewards[5] == 1.0 and rewards[11] == 1.0 and sum(rewards) == 2
    assert last["is_success"]
    wrong = (second + 1) % 10
    rewards, last = _play(env, [first, wrong], seed=4)
    assert sum(rewards) == 1.0 and rewards[5] == 1.0 and not last["is_success"]
    rewards, _ = _play(env, [second, first], seed=4)  # the order matters (unless equal)
    assert sum(rewards) == 2.0 * (first == second)


def test_addition_scores_the_sum_once_at_the_end():
    env = gym.make("MNISTAddition-v0")
    assert env.action_space["label"].n == 19
    _, info = env.reset(seed=9)
    total = int(info["labels"].sum())
    assert info["label"] == total
    rewards, last = _play(env, [total], seed=9)
    assert rewards == [0.0] * 11 + [1.0] and last["is_success"]
    rewards, last = _play(env, [(total + 1) % 19], seed=9)
    assert sum(rewards) == 0.0 and not last["is_success"]
    env.reset(seed=9)
    with pytest.raises(ValueError, match=r"must be in 0\.\.18"):
        env.step({"location": np.zeros(2, np.float32), "label": 19})


def test_the_agent_chooses_the_first_glimpse_with_a_first_move():
    env = gym.make("ClutteredMNIST-v0", initial_location="agent", context_size=12)
    obs, _ = env.reset(seed=1)
    assert not obs["glimpse"].any() and obs["context"].any()  # nothing seen yet but the context
    assert obs["step"][0] == 0.0
    where = np.array([0.4, -0.3], np.float32)
    obs, reward, terminated, _, _ = env.step({"location": where, "label": 0})
    c = env.unwrapped.config
    expected = extract_glimpses(
        integral_image(torch.from_numpy(env.unwrapped.canvas)[None]),
        torch.from_numpy(where)[None], c.glimpse_size, c.num_scales, c.scale_factor,
    )[0]  # fmt: skip
    np.testing.assert_array_equal(obs["glimpse"], expected.numpy())
    assert reward == 0.0 and not terminated and c.episode_length == 7
    rewards, _ = _play(env, [env.unwrapped._episodes.labels[0].item()], seed=1)
    assert rewards[-1] == 1.0 and len(rewards) == 7


def test_hdf5_carries_every_label_and_box(tmp_path):
    path = write_canvas_hdf5(
        tmp_path / "pairs.hdf5", num_train=12, num_valid=4, num_test=6, canvas_size=100,
        num_distractors=(2, 6), num_digits=2, progress=False,
    )  # fmt: skip
    with h5py.File(path) as f:
        assert f["labels"].shape == (22, 2) and f["locations"].shape == (22, 2, 6)
    test = read_canvas_hdf5(path, "test")
    assert test.labels.shape == (6, 2) and test.bboxes.shape == (6, 2, 4)
    env = gym.make("ClutteredMNISTPairs-v0", dataset_path=str(path), split="test").unwrapped
    for seed in range(5):
        _, info = env.reset(seed=seed)
        row = [i for i in range(6) if np.array_equal(test.images[i], env.canvas)]
        assert row and info["labels"].tolist() == test.labels[row[0]].tolist()
        assert info["bboxes"].tolist() == test.bboxes[row[0]].tolist()
    with pytest.raises(ValueError, match="hold 2 digit"):
        gym.make("ClutteredMNIST100-v0", dataset_path=str(path))


def test_sb3_adapter_offers_the_sums_as_labels():
    from agents.sb3.vec_env import GlimpseSB3VecEnv

    venv = GlimpseSB3VecEnv.from_id("MNISTAddition-v0", num_envs=2)
    assert venv.action_space.nvec.tolist()[-1] == 19
    assert GlimpseSB3VecEnv.from_id("ClutteredMNISTPairs-v0", 2).action_space.nvec[-1] == 10


def test_an_episode_counts_as_right_only_when_every_digit_is():
    from agents.evaluation import evaluate
    from glimpse_env.envs.vector import GlimpseVectorEnv

    env = GlimpseVectorEnv(
        10, output="torch", canvas_size=100, num_digits=2, num_glimpses=1, split="valid"
    )

    def answer(right_digits):
        def play(env, first, sample, generator):
            truth = env.episodes.answers.clone()
            logits = torch.nn.functional.one_hot(truth, 10).float()
            for digit in range(2):
                if digit not in right_digits:
                    logits[:, digit] = torch.nn.functional.one_hot((truth[:, digit] + 1) % 10, 10)
            return logits, torch.zeros(env.num_envs, 2, 2)

        return play

    model = torch.nn.Linear(1, 1)
    assert evaluate(model, env, answer({0, 1}), 30).errors == 0
    assert evaluate(model, env, answer({0}), 30).errors == 30
    result = evaluate(model, env, answer({1}), 30)
    assert result.errors == 30 and len(result.examples.labels[0]) == 2  # captions "37"-style
