"""Canvas generation against a plain re-implementation of the DeepMind recipe."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from glimpse_env.data.canvas import (
    CanvasGenerator,
    affine_to_bboxes,
    bboxes_to_affine,
)
from glimpse_env.keyed_random import Stream, random_integers


def _reference_canvas(digits, key, episode, digit_index, size, k, d):
    """The recipe, one canvas, step by step in float [0, 1] with clipping after each stage."""
    keys, eps = np.array([key], np.uint64), np.array([episode])
    canvas = np.zeros((size, size))
    source = random_integers(keys, eps, Stream.DISTRACTOR_SOURCE, k, len(digits))[0] if k else []
    crop = random_integers(keys, eps, Stream.DISTRACTOR_CROP, 2 * k, 29 - d)[0].reshape(k, 2)
    place = random_integers(keys, eps, Stream.DISTRACTOR_POSITION, 2 * k, size - d + 1)[0]
    place = place.reshape(k, 2)
    for j in range(k):
        (cx, cy), (px, py) = crop[j], place[j]
        canvas[py : py + d, px : px + d] += digits[source[j], cy : cy + d, cx : cx + d] / 255.0
        canvas = np.minimum(canvas, 1.0)
    x, y = random_integers(keys, eps, Stream.DIGIT_POSITION, 2, size - 27)[0]
    canvas[y : y + 28, x : x + 28] += digits[digit_index] / 255.0
    return np.minimum(canvas, 1.0), (x, y, x + 28, y + 28)


@pytest.mark.parametrize("size,k", [(60, 4), (100, 8), (28, 0)])
def test_batched_canvases_match_the_recipe(mnist_train, size, k):
    gen = CanvasGenerator(mnist_train.images, mnist_train.labels, size, k, 8)
    keys = np.array([3, 3, 99, 2**63 + 5], np.uint64)
    episodes = np.array([0, 1, 0, 70000])
    batch = gen.generate(keys, episodes)
    assert batch.images.shape == (4, size, size) and batch.images.dtype == torch.uint8
    digit_idx = gen.digit_indices(keys, episodes)[:, 0]
    for i in range(4):
        ref, box = _reference_canvas(
            mnist_train.images, keys[i], episodes[i], digit_idx[i], size, k, 8
        )
        np.testing.assert_allclose(batch.images[i].numpy() / 255.0, ref, atol=0.5 / 255)
        assert tuple(batch.bboxes[i, 0].tolist()) == box
        assert int(batch.labels[i, 0]) == int(mnist_train.labels[digit_idx[i]])


def test_translated_canvas_is_the_digit_inside_its_box_and_zero_elsewhere(mnist_train):
    gen = CanvasGenerator(mnist_train.images, mnist_train.labels, 60, 0, 8)
    batch = gen.generate(np.arange(16, dtype=np.uint64), np.zeros(16))
    idx = gen.digit_indices(np.arange(16, dtype=np.uint64), np.zeros(16))[:, 0]
    for i in range(16):
        x0, y0, x1, y1 = batch.bboxes[i, 0].tolist()
        image = batch.images[i].numpy()
        np.testing.assert_array_equal(image[y0:y1, x0:x1], mnist_train.images[idx[i]])
        outside = image.copy()
        outside[y0:y1, x0:x1] = 0
        assert outside.max() == 0


def test_positions_cover_the_canvas_uniformly(mnist_train):
    gen = CanvasGenerator(mnist_train.images, mnist_train.labels, 60, 4, 8)
    batch = gen.generate(np.full(4000, 11, np.uint64), np.arange(4000))
    x0 = batch.bboxes[:, 0, 0].numpy()
    assert x0.min() == 0 and x0.max() == 32  # fully inside: 0 .. 60 - 28
    assert np.bincount(x0, minlength=33).min() > 60  # ~121 per value
    assert (batch.images.numpy() > 0).any(axis=(1, 2)).all()


def test_each_pass_visits_every_digit_once(mnist_test):
    sub_digits, sub_labels = mnist_test.images[:50], mnist_test.labels[:50]
    gen = CanvasGenerator(sub_digits, sub_labels, 40, 2, 8)
    keys = np.full(150, 5, np.uint64)
    idx = gen.digit_indices(keys, np.arange(150))[:, 0]
    for p in range(3):
        assert sorted(idx[p * 50 : (p + 1) * 50].tolist()) == list(range(50))
    assert idx[:50].tolist() != idx[50:100].tolist()


def test_same_key_and_episode_reproduce_the_canvas(mnist_train):
    gen = CanvasGenerator(mnist_train.images, mnist_train.labels, 60, 4, 8)
    a = gen.generate(np.array([42], np.uint64), np.array([17]))
    b = gen.generate(np.array([1, 42], np.uint64), np.array([0, 17]))
    assert torch.equal(a.images[0], b.images[1])


def test_affine_round_trip_and_convention():
    boxes = np.array([[0, 0, 28, 28], [72, 10, 100, 38], [36, 36, 64, 64]])
    affine = bboxes_to_affine(boxes, 100, 100)
    np.testing.assert_allclose(affine[:, [0, 4]], 0.28)
    np.testing.assert_allclose(affine[:, [1, 3]], 0.0)
    # Centre of the first box is pixel 14 of 100: 2 * 14 / 100 - 1 = -0.72.
    np.testing.assert_allclose(affine[0, [2, 5]], [-0.72, -0.72], atol=1e-6)
    np.testing.assert_allclose(affine[2, [2, 5]], [0.0, 0.0], atol=1e-6)
    np.testing.assert_array_equal(affine_to_bboxes(affine, 100, 100), boxes)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(canvas_size=20), "canvas_size"),
        (dict(num_distractors=-1), "num_distractors"),
        (dict(distractor_size=30), "distractor_size"),
    ],
)
def test_bad_settings_are_rejected(mnist_test, kwargs, match):
    with pytest.raises(ValueError, match=match):
        CanvasGenerator(mnist_test.images, mnist_test.labels, **kwargs)


def test_any_number_of_distractors_saturates_instead_of_wrapping(mnist_train):
    # 400 full-canvas distractors: an unbounded int16 sum would wrap past 32,767 into negatives.
    gen = CanvasGenerator(mnist_train.images, mnist_train.labels, 28, 400, 28)
    keys = np.arange(1, 9, dtype=np.uint64)
    batch = gen.generate(keys, np.zeros(8, dtype=np.int64))
    digits = mnist_train.images[batch.sources.numpy()]
    assert (batch.images.numpy() >= digits).all()  # clutter only ever brightens the digit
    assert batch.images.numpy().max() == 255
