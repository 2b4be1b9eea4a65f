"""Your own images, grayscale or colour: sources, channels through the retina, the canvas
generator, the dataset file, both envs, rendering and the agents."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import SyncVectorEnv
from PIL import Image
from torch import nn

import glimpse_env  # noqa: F401  (registers the ids)
from glimpse_env.data.canvas import CanvasGenerator
from glimpse_env.data.hdf5 import read_canvas_hdf5, write_cluttered_dataset, write_dataset
from glimpse_env.data.sources import ImageSource
from glimpse_env.render import canvas_to_rgb, draw_trajectory


def _shapes(count: int, side: int, channels: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` images ``(side, side[, channels])``: class c is a filled square of side
    ``side // (c + 2)`` at a random place, each channel a random brightness."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count, side, side, channels), np.uint8)
    labels = rng.integers(0, 3, count)
    for i, label in enumerate(labels):
        s = side // (int(label) + 2)
        x, y = rng.integers(0, side - s + 1, 2)
        images[i, y : y + s, x : x + s] = rng.integers(80, 256, channels)
    return (images[..., 0] if channels == 1 else images), labels


def _folder(root, channels: int, per_class: int = 6):
    for label in range(3):
        (root / f"class{label}").mkdir(parents=True)
    images, labels = _shapes(3 * per_class, 24, channels, seed=1)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        Image.fromarray(image).save(root / f"class{label}" / f"{i}.png")
    return root


# ---- generator (the retina's channels: tests/test_retina.py) ------------------------------------
def test_colour_objects_compose_each_channel_as_the_grey_generator_does(mnist_test):
    """Three identical channels give, in each channel, exactly the one-channel canvases."""
    digits, labels = mnist_test.images[:300], mnist_test.labels[:300]
    grey = CanvasGenerator(digits, labels, 60, 4, 8)
    colour = CanvasGenerator(np.repeat(digits[:, None], 3, axis=1), labels, 60, 4, 8)
    keys, episodes = np.arange(8, dtype=np.uint64) + 5, np.arange(8)
    a, b = grey.generate(keys, episodes), colour.generate(keys, episodes)
    assert b.images.shape == (8, 3, 60, 60) and colour.channels == 3
    for c in range(3):
        torch.testing.assert_close(b.images[:, c], a.images, rtol=0, atol=0)
    torch.testing.assert_close(b.bboxes, a.bboxes)


# ---- sources -----------------------------------------------------------------------------------
@pytest.mark.parametrize("channels", [1, 3])
def test_array_source_holds_out_a_seeded_valid_and_test(channels):
    images, labels = _shapes(100, 20, channels)
    source = ImageSource.from_arrays((images, labels), seed=3)
    assert {name: len(source[name]) for name in ("train", "valid", "test")} == {
        "train": 80, "valid": 10, "test": 10,
    }  # fmt: skip
    assert source.channels == channels and source.image_size == 20 and source.num_classes == 3
    assert "seed 3" in source.split_note and "valid 0.1" in source.split_note
    again = ImageSource.from_arrays((images, labels), seed=3)
    np.testing.assert_array_equal(again["valid"].labels, source["valid"].labels)
    given = ImageSource.from_arrays((images[:60], labels[:60]), (images[60:80], labels[60:80]),
                                    (images[80:], labels[80:]))  # fmt: skip
    assert len(given["train"]) == 60 and given.split_note == "train, valid and test as given"


def test_non_square_arrays_are_fitted_inside_a_stated_square():
    images = np.full((4, 10, 30), 200, np.uint8)
    source = ImageSource.from_arrays((images, np.array([0, 1, 0, 1])), (images[:2], [0, 1]),
                                     (images[:2], [0, 1]), size=15)  # fmt: skip
    assert source.image_size == 15
    assert tuple(source["train"].boxes[0]) == (0, 5, 15, 10)  # 30x10 -> 15x5, centred
    assert source["train"].images[0, 4].max() == 0 and source["train"].images[0, 5].min() > 0


def test_hugging_face_dataset_source():
    datasets = pytest.importorskip("datasets")  # the hf extra; installed by .[dev]
    images, labels = _shapes(30, 16, 3)
    ds = datasets.Dataset.from_dict(
        {"image": [Image.fromarray(im) for im in images], "label": labels.tolist()}
    ).cast_column("label", datasets.ClassLabel(names=["a", "b", "c"]))
    source = ImageSource.from_hf(ds, valid_fraction=0.2, test_fraction=0.2)
    assert source.class_names == ("a", "b", "c") and source.channels == 3
    assert len(source["valid"]) == 6 and len(source["train"]) == 18
    split = datasets.DatasetDict({"train": ds, "test": ds.select(range(5))})
    both = ImageSource.from_hf(split, size=8)
    assert len(both["test"]) == 5 and both.image_size == 8 and "valid" in both.split_note
    with pytest.raises(ValueError, match="no column 'img'"):
        ImageSource.from_hf(ds, image_column="img")


def test_folder_source_reads_colour_and_refuses_mixed_kinds(tmp_path):
    root = _folder(tmp_path / "shapes", channels=3)
    source = ImageSource.from_folder(root, 24)
    assert source.channels == 3 and source.class_names == ("class0", "class1", "class2")
    assert ImageSource.from_folder(root, 24, channels=1).channels == 1
    Image.fromarray(np.zeros((24, 24), np.uint8)).save(root / "class0" / "grey.png")
    with pytest.raises(ValueError, match=r"grey\.png is grayscale.*pass channels=1 or channels=3"):
        ImageSource.from_folder(root, 24)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: ImageSource.from_arrays((np.zeros((4, 8, 8), np.float32), np.zeros(4, int))),
         "uint8"),
        (lambda: ImageSource.from_arrays((np.zeros((4, 8, 8), np.uint8), np.zeros(3, int))),
         "labels must be"),
        (lambda: ImageSource.from_arrays((np.zeros((4, 8, 8), np.uint8), -np.ones(4, int))),
         "integers 0-255"),
        (lambda: ImageSource.from_arrays((np.zeros((4, 8, 8), np.uint8), np.zeros((4, 2), int))),
         "one class per image"),
        (lambda: ImageSource.from_arrays((np.zeros((10, 8, 8, 3), np.uint8), np.zeros(10, int)),
                                         (np.zeros((2, 8, 8), np.uint8), np.zeros(2, int))),
         "different channel counts"),
        (lambda: ImageSource.from_arrays((np.zeros((2, 8, 8), np.uint8), np.zeros(2, int)),
                                         valid_fraction=0.5, test_fraction=0.5),
         "leave none for training"),
    ],
)  # fmt: skip
def test_bad_arrays_get_one_clear_error(build, match):
    with pytest.raises(ValueError, match=match):
        build()


# ---- the envs ----------------------------------------------------------------------------------
def _sources(tmp_path):
    images, labels = _shapes(120, 24, 3)
    grey, grey_labels = _shapes(120, 24, 1)
    return {
        "array-rgb": ImageSource.from_arrays((images, labels)),
        "array-grey": ImageSource.from_arrays((grey, grey_labels)),
        "folder-rgb": ImageSource.from_folder(_folder(tmp_path / "rgb", 3), 24),
        "folder-grey": ImageSource.from_folder(_folder(tmp_path / "grey", 1), 24),
    }


@pytest.mark.parametrize("name", ["array-rgb", "array-grey", "folder-rgb", "folder-grey"])
@pytest.mark.parametrize("task", [{}, {"canvas_size": 48, "num_distractors": 3}])
def test_image_envs_pass_check_env_and_single_equals_vector(tmp_path, name, task):
    source = _sources(tmp_path)[name]
    c = source.channels
    env = gym.make("GlimpseEnv/Images-v0", source=source, **task)
    glimpse = env.observation_space["glimpse"].shape
    assert glimpse == ((3, 3, 8, 8) if c == 3 else (3, 8, 8))
    assert env.action_space["label"].n == 3
    check_env(env.unwrapped, skip_render_check=True)
    n = 4
    native = gym.make_vec("GlimpseEnv/Images-v0", num_envs=n, source=source, **task)
    sync = SyncVectorEnv([lambda: gym.make("GlimpseEnv/Images-v0", source=source, **task)] * n)
    a, a_info = native.reset(seed=7)
    b, b_info = sync.reset(seed=7)
    rng = np.random.default_rng(0)
    for _ in range(8):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        np.testing.assert_array_equal(a_info["label"], b_info["label"])
        action = {"location": rng.uniform(-1, 1, (n, 2)).astype(np.float32),
                  "label": rng.integers(0, 3, n)}  # fmt: skip
        a, ra, *_, a_info = native.step(action)
        b, rb, *_, b_info = sync.step(action)
        np.testing.assert_array_equal(ra, rb)


def test_images_at_their_own_size_are_scored_once_each(tmp_path):
    source = _sources(tmp_path)["array-rgb"]
    venv = gym.make_vec("GlimpseEnv/Images-v0", num_envs=2, source=source, split="test")
    assert venv.distinct_canvases == len(source["test"]) == 12
    frame = gym.make("GlimpseEnv/Images-v0", source=source, render_mode="rgb_array")
    frame.reset(seed=0)
    picture = frame.render()
    assert picture.ndim == 3 and picture.shape[2] == 3
    canvas = frame.unwrapped.canvas
    assert canvas.shape == (3, 24, 24)
    np.testing.assert_array_equal(canvas_to_rgb(canvas)[..., 1], canvas[1])  # channels kept


def test_image_env_errors_name_the_problem(tmp_path):
    source = _sources(tmp_path)["array-grey"]
    with pytest.raises(ValueError, match="needs source="):
        gym.make("GlimpseEnv/Images-v0")
    with pytest.raises(ValueError, match="is a folder"):
        gym.make("GlimpseEnv/Images-v0", source=str(_folder(tmp_path / "f", 1)))
    with pytest.raises(ValueError, match="source has 3 classes"):
        gym.make("GlimpseEnv/Images-v0", source=source, classes=2)
    with pytest.raises(ValueError, match="channels=3, its source has 1"):
        gym.make("GlimpseEnv/Images-v0", source=source, channels=3)
    with pytest.raises(ValueError, match="one image per canvas"):
        gym.make("GlimpseEnv/Images-v0", source=source, num_digits=2)


# ---- the dataset file --------------------------------------------------------------------------
def test_colour_dataset_file_round_trip_and_env(tmp_path):
    images, labels = _shapes(40, 24, 3)
    path = write_dataset(tmp_path / "rgb.hdf5", {"train": (images[:30], labels[:30]),
                                                 "test": (images[30:], labels[30:])})  # fmt: skip
    arrays = read_canvas_hdf5(path, "train")
    assert arrays.images.shape == (30, 3, 24, 24) and arrays.channels == 3
    np.testing.assert_array_equal(arrays.images, np.moveaxis(images[:30], -1, 1))
    env = gym.make("ClutteredMNIST-v0", dataset_path=str(path), classes=3, split="test")
    assert env.observation_space["glimpse"].shape == (3, 3, 12, 12)
    check_env(env.unwrapped, skip_render_check=True)
    from_file = ImageSource.from_hdf5(path)
    assert from_file.channels == 3 and len(from_file["train"]) + len(from_file["valid"]) == 30
    np.testing.assert_array_equal(from_file["test"].images, images[30:])
    cluttered = write_cluttered_dataset(
        tmp_path / "cluttered.hdf5", {"train": (images, labels)}, {"train": 10}, 48, 3, 8
    )
    assert read_canvas_hdf5(cluttered, "train").images.shape == (10, 3, 48, 48)
    written = from_file.write_hdf5(tmp_path / "again.hdf5")
    assert read_canvas_hdf5(written, "test").images.shape == (10, 3, 24, 24)


def test_draw_trajectory_takes_a_colour_canvas():
    canvas = np.zeros((3, 20, 20), np.uint8)
    canvas[0] = 255  # red
    picture = draw_trajectory(canvas, np.zeros((1, 2)), 4, 1, scale=2)
    assert picture.shape == (40, 40, 3) and tuple(picture[0, 0]) == (255, 0, 0)


# ---- agents ------------------------------------------------------------------------------------
def test_ram_and_dram_train_on_colour_and_load_with_their_channels(tmp_path):
    from agents import load
    from agents.training.config import TrainConfig
    from agents.training.trainer import Trainer

    images, labels = _shapes(90, 28, 3)
    path = write_dataset(tmp_path / "rgb.hdf5", {"train": (images[:60], labels[:60]),
                                                 "valid": (images[60:75], labels[60:75]),
                                                 "test": (images[75:], labels[75:])})  # fmt: skip
    tiny = dict(env_id="MNIST-v0", dataset_path=str(path), classes=3, batch_size=8, updates=3,
                hidden=16, glimpse_hidden=8, location_hidden=8, eval_every=0,
                final_eval_canvases=15, eval_canvases=15, mc_samples=2, num_glimpses=2)  # fmt: skip
    for agent, extra in (("ram", {}), ("dram", dict(context_size=8, dram_channels=2))):
        config = TrainConfig(agent=agent, **tiny, **extra)
        trainer = Trainer(config, tmp_path / agent)
        assert trainer.config.channels == 3 and trainer.glimpse_shape == (1, 3, 8, 8)
        result = trainer.train()
        loaded = load(result.run_dir / "checkpoint.pt")
        greedy, _ = loaded.evaluate("test")
        assert greedy.total == 15 and loaded.config.channels == 3
    with pytest.raises(ValueError, match="reads grayscale canvases"):
        shared = {k: v for k, v in tiny.items() if k not in ("glimpse_hidden", "location_hidden")}
        Trainer(TrainConfig(agent="edram", **shared), tmp_path / "edram")


def test_supervised_baselines_train_on_a_colour_file_of_their_own_classes(tmp_path, capsys):
    """``train/supervised_baseline.py --dataset-path F --classes 3``: the FC and the CNN read
    colour canvases (the CNN's first layer takes 3 planes), are matched to the RAM of the same
    classes and channels, and score and play the file's test rows."""
    from agents import load
    from agents.cli.supervised import main
    from glimpse_env.envs.wrappers import CanvasObservation, VectorCanvasObservation

    images, labels = _shapes(90, 28, 3)
    path = write_dataset(tmp_path / "rgb.hdf5", {"train": (images[:60], labels[:60]),
                                                 "valid": (images[60:75], labels[60:75]),
                                                 "test": (images[75:], labels[75:])})  # fmt: skip
    for model in ("fc", "cnn"):
        flags = ["--env-id", "MNIST-v0", "--dataset-path", str(path), "--classes", "3",
                 "--model", model, "--updates", "3", "--batch-size", "8", "--eval-every", "0",
                 "--eval-canvases", "15", "--final-eval-canvases", "15", "--num-threads", "1",
                 "--logdir", str(tmp_path / model), "--no-progress"]  # fmt: skip
        assert main(flags) == 0
        (run,) = (tmp_path / model).iterdir()
        policy = load(run / "best.pt")
        first = next(m for m in policy.model.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))
        assert first.weight.shape[1] == (3 * 28 * 28 if model == "fc" else 3)
        assert policy.loaded.matched_to.endswith("classes=3, channels=3")
        assert policy.evaluate("test").total == 15
        env = CanvasObservation(
            gym.make("MNIST-v0", dataset_path=str(path), classes=3, split="test")
        )
        obs, _ = env.reset(seed=0)
        action, _ = policy.predict(obs)
        assert 0 <= int(np.asarray(action["label"])) < 3
        venv = VectorCanvasObservation(
            gym.make_vec("MNIST-v0", num_envs=3, dataset_path=str(path), classes=3, split="test")
        )
        obs, _ = venv.reset(seed=0)
        assert obs["canvas"].shape == (3, 3, 28, 28)
        assert np.asarray(policy.predict(obs)[0]["label"]).shape == (3,)
    capsys.readouterr()


def test_sb3_glimpse_features_take_colour_glimpses(tmp_path):
    from agents.sb3.features import GlimpseFeatures

    source = _sources(tmp_path)["array-rgb"]
    venv = gym.make_vec("GlimpseEnv/Images-v0", num_envs=3, source=source, output="torch")
    features = GlimpseFeatures(venv.single_observation_space, features_dim=16)
    obs, _ = venv.reset(seed=0)
    assert features(obs).shape == (3, 16)
    assert features.net.what1.in_features == 3 * 3 * 8 * 8  # k * C * g * g
