"""HDF5 canvas datasets: the EDRAM schema, reading foreign files, schema errors, serving an env."""

from __future__ import annotations

import gymnasium as gym
import h5py
import numpy as np
import pytest

from glimpse_env.data.__main__ import main as data_cli
from glimpse_env.data.canvas import CanvasGenerator
from glimpse_env.data.hdf5 import read_canvas_hdf5, write_canvas_hdf5
from glimpse_env.keyed_random import key_from_generator


@pytest.fixture(scope="module")
def small_file(tmp_path_factory, mnist_dir):
    path = tmp_path_factory.mktemp("h5") / "mnist_cluttered.hdf5"
    assert (
        data_cli(
            [
                "make-hdf5",
                str(path),
                "--canvas-size",
                "40",
                "--num-distractors",
                "3",
                "--num-train",
                "60",
                "--num-valid",
                "15",
                "--num-test",
                "25",
                "--seed",
                "7",
                "--chunk-size",
                "16",
                "--no-progress",
                "--data-dir",
                str(mnist_dir),
            ]
        )
        == 0
    )
    return path


def test_written_file_has_the_edram_schema(small_file):
    with h5py.File(small_file, "r") as f:
        assert f["features"].shape == (100, 1, 40, 40) and f["features"].dtype == np.uint8
        assert f["labels"].shape == (100,) and f["labels"].dtype == np.uint8
        assert f["locations"].shape == (100, 6) and f["locations"].dtype == np.float32
        split = f.attrs["split"]
        rows = {(r["split"].decode(), r["source"].decode()): (r["start"], r["stop"]) for r in split}
        assert rows[("train", "features")] == (0, 60) and rows[("valid", "labels")] == (60, 75)
        assert rows[("test", "labels")] == (75, 100)
        loc = f["locations"][:]
    np.testing.assert_allclose(loc[:, [0, 4]], 28 / 40)
    np.testing.assert_array_equal(loc[:, [1, 3]], 0.0)
    assert np.abs(loc[:, [2, 5]]).max() <= 1 - 14 / 20 + 1e-6
    assert not [p for p in small_file.parent.iterdir() if p.name.startswith(".")]


def test_round_trip_matches_the_generator(small_file, mnist_dir, mnist_train, mnist_test):
    from glimpse_env.data.mnist import load_mnist

    train, test = read_canvas_hdf5(small_file, "train"), read_canvas_hdf5(small_file, "test")
    valid = read_canvas_hdf5(small_file, "valid")
    assert (len(train), len(valid), len(test)) == (60, 15, 25)
    # Recompute the splits: the file's train, test and valid streams are the first three keys
    # drawn from the seed, and each split's canvases are made of its own digits (distractors too).
    rng = np.random.default_rng(7)
    keys = key_from_generator(rng), key_from_generator(rng), key_from_generator(rng)
    mnist_valid = load_mnist("valid", mnist_dir)
    plan = [(train, mnist_train, keys[0]), (test, mnist_test, keys[1])]
    for arrays, mnist, key in [*plan, (valid, mnist_valid, keys[2])]:
        gen = CanvasGenerator(mnist.images, mnist.labels, 40, 3, 8)
        batch = gen.generate(np.full(len(arrays), key, np.uint64), np.arange(len(arrays)))
        np.testing.assert_array_equal(arrays.images, batch.images.numpy())
        np.testing.assert_array_equal(arrays.labels, batch.labels.numpy())
        np.testing.assert_array_equal(arrays.bboxes, batch.bboxes.numpy())


def test_reads_a_fuel_file_written_by_other_tools(tmp_path):
    """Old-style Fuel split array (no 'indices' field) and labels stored as (N, 1)."""
    path = tmp_path / "foreign.hdf5"
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f["features"] = rng.integers(0, 256, (7, 1, 100, 100), dtype=np.uint8)
        f["labels"] = rng.integers(0, 10, (7, 1), dtype=np.uint8)
        f["locations"] = np.tile(np.array([0.28, 0, -0.72, 0, 0.28, 0.72], np.float32), (7, 1))
        dtype = np.dtype(
            [
                ("split", "S5"),
                ("source", "S9"),
                ("start", np.int64),
                ("stop", np.int64),
                ("available", bool),
                ("comment", "S1"),
            ]
        )
        rows = [
            (s, src, a, b, True, b".")
            for s, a, b in [(b"train", 0, 5), (b"test", 5, 7)]
            for src in (b"features", b"labels", b"locations")
        ]
        f.attrs["split"] = np.array(rows, dtype=dtype)
    test = read_canvas_hdf5(path, "test")
    assert test.images.shape == (2, 100, 100) and test.labels.shape == (2, 1)
    assert test.bboxes.tolist() == [[[0, 72, 28, 100]]] * 2


@pytest.mark.parametrize(
    "breakage,match",
    [
        (lambda f: f.__delitem__("locations"), r"missing datasets \['locations'\]"),
        (
            lambda f: (
                f.__delitem__("features"),
                f.create_dataset("features", data=np.zeros((85, 1, 40, 40), np.float32)),
            ),
            "'features' is float32",
        ),
        (lambda f: f.attrs.__delitem__("split"), "no root attribute 'split'"),
    ],
)
def test_wrong_schema_names_what_was_expected(small_file, tmp_path, breakage, match):
    broken = tmp_path / "broken.hdf5"
    broken.write_bytes(small_file.read_bytes())
    with h5py.File(broken, "a") as f:
        breakage(f)
    with pytest.raises(ValueError, match=match) as err:
        read_canvas_hdf5(broken, "train")
    assert "Expected datasets 'features' (N, C, H, W) uint8" in str(err.value)


def test_not_hdf5_and_missing_file(tmp_path):
    junk = tmp_path / "junk.hdf5"
    junk.write_bytes(b"not an hdf5 file")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        read_canvas_hdf5(junk)
    with pytest.raises(FileNotFoundError, match=r"missing\.hdf5"):
        read_canvas_hdf5(tmp_path / "missing.hdf5")


def test_env_serves_canvases_from_the_file(small_file):
    test = read_canvas_hdf5(small_file, "test")
    env = gym.make("ClutteredMNIST-v0", dataset_path=str(small_file), split="test").unwrapped
    seen = set()
    for seed in range(25):
        _, info = env.reset(seed=seed)
        matches = [i for i in range(len(test)) if np.array_equal(test.images[i], env.canvas)]
        assert matches, "canvas must be a row of the file"
        assert info["label"] == test.labels[matches[0], 0]
        assert info["bbox"].tolist() == test.bboxes[matches[0], 0].tolist()
        seen.add(matches[0])
    assert len(seen) > 5


def test_counts_must_be_sensible(tmp_path):
    with pytest.raises(ValueError, match="counts"):
        write_canvas_hdf5(tmp_path / "x.hdf5", num_train=0, num_valid=0, num_test=0)


@pytest.mark.parametrize(
    "row,bad",
    [(1, [np.nan, 0, 0, 0, 0.28, 0]), (2, [0.28, 0, 1e30, 0, 0.28, 0]), (0, [0, 0, 0, 0, 0, 0])],
)
def test_non_finite_or_absurd_locations_are_rejected_with_the_row(tmp_path, row, bad):
    path = tmp_path / "bad.hdf5"
    write_canvas_hdf5(path, num_train=4, num_valid=0, num_test=0, canvas_size=40, progress=False)
    with h5py.File(path, "r+") as f:
        f["locations"][row] = np.array(bad, np.float32)
    with pytest.raises(ValueError, match=rf"bad.hdf5: 'locations' row {row} is"):
        read_canvas_hdf5(path, "train")


def test_data_cli_errors_are_one_line_with_status_2(tmp_path, capsys):
    (tmp_path / "empty.hdf5").write_bytes(b"")
    (tmp_path / "adir").mkdir()
    cases = [
        (["info", str(tmp_path / "missing.hdf5")], "missing.hdf5: no such file"),
        (["info", str(tmp_path / "empty.hdf5")], "empty.hdf5: not a readable HDF5 file"),
        (["info", str(tmp_path / "adir")], "adir: is a directory"),
        (["make-hdf5", str(tmp_path / "adir"), "--num-train", "3"], "adir: is a directory"),
    ]
    for argv, message in cases:
        assert data_cli(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert list((tmp_path / "adir").iterdir()) == []  # nothing generated before the check


def test_authors_recipe_draws_every_split_from_training_digits(tmp_path, monkeypatch, mnist_dir):
    """--recipe authors: 100x100, 5 distractors, 60,000 train + 10,000 test canvases (plus our
    10,000 valid), every split from the training digits, as Ablavatski et al. had them."""
    from glimpse_env.data import __main__ as cli_module
    from glimpse_env.data import hdf5 as hdf5_module

    calls = {}
    monkeypatch.setattr(cli_module, "write_canvas_hdf5", lambda path, **kw: calls.update(kw))
    assert data_cli(["make-hdf5", str(tmp_path / "a.hdf5"), "--recipe", "authors"]) == 0
    assert calls["canvas_size"] == 100 and calls["num_distractors"] == 5
    assert (calls["num_train"], calls["num_valid"], calls["num_test"]) == (60000, 10000, 10000)
    assert calls["digit_split"] == "train"
    # A recipe fixes its sizes: conflicting flags are refused, not silently overridden.
    argv = ["make-hdf5", str(tmp_path / "b.hdf5"), "--recipe", "authors", "--canvas-size", "60"]
    assert data_cli(argv) == 2

    requested = []
    real_load = hdf5_module.load_mnist
    monkeypatch.setattr(
        hdf5_module, "load_mnist", lambda split, d=None: requested.append(split) or real_load(
            split, d)
    )  # fmt: skip
    small = dict(canvas_size=40, num_distractors=2, num_train=8, num_valid=4, num_test=4)
    own = write_canvas_hdf5(tmp_path / "own.hdf5", **small, data_dir=mnist_dir, progress=False)
    assert requested == ["train", "valid", "test"]
    requested.clear()
    authors = write_canvas_hdf5(tmp_path / "authors.hdf5", **small, digit_split="train",
                                data_dir=mnist_dir, progress=False)  # fmt: skip
    assert requested == ["train", "train", "train"]
    train_own, train_authors = read_canvas_hdf5(own, "train"), read_canvas_hdf5(authors, "train")
    np.testing.assert_array_equal(train_own.images, train_authors.images)  # same key and digits
    test_own, test_authors = read_canvas_hdf5(own, "test"), read_canvas_hdf5(authors, "test")
    assert not np.array_equal(test_own.images, test_authors.images)
    with h5py.File(authors) as f:
        assert f.attrs["digits"] == "train for every split"


def _squares(count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``count`` 40x40 canvases, each with a bright square whose size is its class (0-2)."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count, 40, 40), np.uint8)
    labels = rng.integers(0, 3, count)
    boxes = np.zeros((count, 4), np.int64)
    for i, label in enumerate(labels):
        side = 6 + 6 * int(label)
        x, y = rng.integers(0, 40 - side, 2)
        images[i, y : y + side, x : x + side] = 255
        boxes[i] = (x, y, x + side, y + side)
    return images, labels, boxes


def test_write_dataset_takes_your_own_arrays_and_the_env_serves_them(tmp_path):
    from glimpse_env.data.hdf5 import write_dataset

    splits = {"train": _squares(30, 0), "test": _squares(8, 1)}
    path = write_dataset(tmp_path / "squares.hdf5", splits, origin="squares of three sizes")
    test = read_canvas_hdf5(path, "test")
    images, labels, boxes = splits["test"]
    np.testing.assert_array_equal(test.images, images)
    np.testing.assert_array_equal(test.labels[:, 0], labels)
    np.testing.assert_array_equal(test.bboxes[:, 0], boxes)  # boxes -> affine -> boxes, exactly
    with h5py.File(path) as f:
        assert f.attrs["origin"] == "squares of three sizes"
    env = gym.make("ClutteredMNIST-v0", dataset_path=str(path), split="test", canvas_size=40)
    obs, info = env.reset(options={"evaluation_canvas": 0})
    assert int(info["label"]) in set(labels.tolist())
    whole = write_dataset(tmp_path / "whole.hdf5", {"valid": splits["test"][:2]})
    assert (read_canvas_hdf5(whole, "valid").bboxes[:, 0] == [0, 0, 40, 40]).all()


@pytest.mark.parametrize(
    "splits, match",
    [
        ({"training": _squares(2, 0)}, "splits must be among"),
        ({"train": (np.zeros((2, 8, 8, 3), np.uint8), np.zeros(2, int)),
          "test": (np.zeros((2, 8, 8), np.uint8), np.zeros(2, int))}, "same canvas size"),
        ({"train": (np.zeros((2, 8, 8), np.float32), np.zeros(2, int))}, "uint8"),
        ({"train": (np.zeros((2, 8, 8), np.uint8), np.zeros(3, int))}, "labels must be"),
        ({"train": (np.zeros((2, 8, 8), np.uint8), np.array([0, 300]))}, "integers 0-255"),
        ({"train": (np.zeros((2, 8, 8), np.uint8), np.zeros(2, int), np.zeros((2, 3)))}, "bboxes"),
        ({"train": _squares(2, 0), "test": (np.zeros((2, 8, 8), np.uint8), np.zeros(2, int))},
         "same canvas size"),
    ],
)  # fmt: skip
def test_write_dataset_names_the_split_and_array_at_fault(tmp_path, splits, match):
    from glimpse_env.data.hdf5 import write_dataset

    with pytest.raises(ValueError, match=match):
        write_dataset(tmp_path / "bad.hdf5", splits)
    assert not (tmp_path / "bad.hdf5").exists()


def test_scoring_more_canvases_than_a_file_split_has_is_refused(tmp_path):
    """A 8-row test split cannot give 20 evaluation canvases: they would repeat rows."""
    from agents.policy import evaluate_policy
    from glimpse_env.data.hdf5 import write_dataset
    from glimpse_env.envs.vector import GlimpseVectorEnv

    path = write_dataset(tmp_path / "squares.hdf5", {"test": _squares(8, 1)})
    venv = GlimpseVectorEnv(2, split="test", dataset_path=str(path), canvas_size=40)
    assert venv.distinct_canvases == 8

    class Always:
        def predict(self, obs, state=None, episode_start=None, deterministic=True):
            return {"location": np.zeros((len(obs["step"]), 2), np.float32),
                    "label": np.zeros(len(obs["step"]), np.int64)}, None  # fmt: skip

    task = dict(dataset_path=str(path), canvas_size=40)
    with pytest.raises(ValueError, match="8 distinct canvases; scoring 20 would count 12"):
        evaluate_policy(Always(), "ClutteredMNIST-v0", "test", 20, batch_size=4, **task)
    assert (
        evaluate_policy(Always(), "ClutteredMNIST-v0", "test", 8, batch_size=4, **task).total == 8
    )


def test_a_file_with_three_classes_gets_a_three_way_label(tmp_path):
    """``classes=3``: the label action, the agents' classifiers and SB3's grid action follow."""
    from agents.training.config import TrainConfig
    from agents.training.registry import build_agent, glimpse_shape
    from glimpse_env.data.hdf5 import write_dataset
    from glimpse_env.envs.wrappers import GridActions

    path = str(write_dataset(tmp_path / "squares.hdf5", {"train": _squares(12, 0)}))
    env = gym.make("ClutteredMNIST-v0", dataset_path=path, classes=3, canvas_size=40)
    assert env.action_space["label"] == gym.spaces.Discrete(3)
    assert list(GridActions(env).action_space.nvec) == [9, 9, 3]
    env.reset()
    with pytest.raises(ValueError, match=r"must be in 0\.\.2, got 5"):
        env.step({"location": np.zeros(2, np.float32), "label": 5})
    edram = dict(window_size=14, conv_channels=4, features=16, classifier_hidden=16)
    for agent, weight in (("ram", "classifier.weight"), ("edram", "classifier.out.weight")):
        config = TrainConfig(
            env_id="ClutteredMNIST-v0", dataset_path=path, classes=3, agent=agent,
            canvas_size=40, hidden=16, **(edram if agent == "edram" else {}),
        )  # fmt: skip
        model = build_agent(config, glimpse_shape(config))
        assert model.state_dict()[weight].shape[0] == 3, agent
    with pytest.raises(ValueError, match=r"outside 0\.\.1; pass classes=N"):
        gym.make("ClutteredMNIST-v0", dataset_path=path, classes=2, canvas_size=40).reset()
    with pytest.raises(ValueError, match="classes must be an int >= 2"):
        gym.make("ClutteredMNIST-v0", classes=1)


def _image_folder(root, per_class: int = 5):
    """``root/<shape>/<i>.png``: colour images of three sizes and aspect ratios, one per class."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, (w, h) in {"big": (30, 30), "small": (12, 12), "wide": (40, 10)}.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def test_an_image_folder_becomes_a_dataset_the_env_serves(tmp_path, capsys):
    from glimpse_env.data.folder import read_image_folder
    from glimpse_env.data.sources import folder_to_dataset

    root = _image_folder(tmp_path / "shapes")
    data = read_image_folder(root, 32, channels=1)
    assert data.class_names == ("big", "small", "wide") and data.images.shape == (15, 32, 32)
    assert read_image_folder(root, 32).images.shape == (15, 32, 32, 3)  # colour stays colour
    wide = data.boxes[data.labels == 2][0]
    assert tuple(wide) == (0, 12, 32, 20)  # 40x10 fitted into 32: 32x8, centred
    path, _ = folder_to_dataset(root, tmp_path / "shapes.hdf5", 32, 0.2, 0.2, seed=1)
    rows = {split: len(read_canvas_hdf5(path, split)) for split in ("train", "valid", "test")}
    assert rows == {"train": 9, "valid": 3, "test": 3}
    with h5py.File(path) as f:
        assert f.attrs["classes"] == "big,small,wide" and f.attrs["seed"] == 1
    env = gym.make("ClutteredMNIST-v0", dataset_path=str(path), classes=3, canvas_size=32,
                   split="valid")  # fmt: skip
    obs, info = env.reset(options={"evaluation_canvas": 0})
    assert 0 <= int(info["label"]) < 3 and env.action_space["label"].n == 3
    assert data_cli(["from-folder", str(root), str(tmp_path / "cli.hdf5"), "--size", "32"]) == 0
    assert "15 images of 3 classes (big, small, wide)" in capsys.readouterr().out


def test_image_folder_errors_name_the_folder_or_the_file(tmp_path):
    from glimpse_env.data.folder import read_image_folder
    from glimpse_env.data.sources import folder_to_dataset

    with pytest.raises(ValueError, match="is not a folder"):
        read_image_folder(tmp_path / "nowhere", 32)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no class folders"):
        read_image_folder(tmp_path / "empty", 32)
    (tmp_path / "empty" / "cats").mkdir()
    with pytest.raises(ValueError, match=r"class folder .*cats holds no image"):
        read_image_folder(tmp_path / "empty", 32)
    (tmp_path / "empty" / "cats" / "broken.png").write_text("not an image")
    with pytest.raises(ValueError, match=r"broken\.png is not a readable image"):
        read_image_folder(tmp_path / "empty", 32)
    root = _image_folder(tmp_path / "shapes", per_class=1)
    with pytest.raises(ValueError, match="leave none for training"):
        folder_to_dataset(root, tmp_path / "x.hdf5", 32, 0.5, 0.5)


def test_the_cluttered_recipe_takes_objects_of_any_size(tmp_path):
    """16x16 objects of three classes on 40x40 canvases, clutter cut from other objects."""
    from glimpse_env.data.canvas import CanvasGenerator, min_canvas_size
    from glimpse_env.data.hdf5 import write_cluttered_dataset

    rng = np.random.default_rng(0)
    objects = np.zeros((9, 16, 16), np.uint8)
    objects[:, 4:12, 4:12] = rng.integers(100, 256, (9, 8, 8))
    labels = np.arange(9) % 3
    generator = CanvasGenerator(objects, labels, 40, 3, 6)
    batch = generator.generate(np.full(4, 7, np.uint64), np.arange(4))
    assert batch.images.shape == (4, 40, 40)
    boxes = batch.bboxes[:, 0].numpy()
    assert ((boxes[:, 2:] - boxes[:, :2]) == 16).all()
    for image, (x0, y0, _, _), source in zip(batch.images.numpy(), boxes, batch.sources.numpy(),
                                             strict=True):  # fmt: skip
        assert (image[y0 : y0 + 16, x0 : x0 + 16] >= objects[source]).all()  # object, + clutter
    assert min_canvas_size(2, 16) == 2 * 16 - 1 + 16  # two objects always fit from this size
    pairs = CanvasGenerator(objects, labels, min_canvas_size(2, 16), 0, 6, num_digits=2)
    two = pairs.generate(np.full(3, 1, np.uint64), np.arange(3)).bboxes.numpy()
    apart = (two[:, 0, 2] <= two[:, 1, 0]) | (two[:, 1, 2] <= two[:, 0, 0])
    assert (apart | (two[:, 0, 3] <= two[:, 1, 1]) | (two[:, 1, 3] <= two[:, 0, 1])).all()

    path = write_cluttered_dataset(
        tmp_path / "cluttered.hdf5", {"train": (objects, labels), "test": (objects, labels)},
        {"train": 12, "test": 5}, canvas_size=40, num_distractors=3, distractor_size=6,
    )  # fmt: skip
    test = read_canvas_hdf5(path, "test")
    assert test.images.shape == (5, 40, 40) and set(test.labels[:, 0]) <= {0, 1, 2}
    assert ((test.bboxes[:, 0, 2:] - test.bboxes[:, 0, :2]) == 16).all()
    env = gym.make("ClutteredMNIST-v0", dataset_path=str(path), classes=3, split="test",
                   canvas_size=40)  # fmt: skip
    assert env.reset(options={"evaluation_canvas": 4})[0]["glimpse"].shape == (3, 12, 12)
    with pytest.raises(ValueError, match="square objects"):
        CanvasGenerator(np.zeros((2, 16, 12), np.uint8), np.zeros(2, int), 40)
    with pytest.raises(ValueError, match="without objects"):
        write_cluttered_dataset(tmp_path / "x.hdf5", {"train": (objects, labels)},
                                {"valid": 3}, canvas_size=40)  # fmt: skip
