"""A table of bad inputs walked through the env, the vector env, the data CLI and the training
CLIs. Each must give one error that names the problem, raised from this project's code (not
from deep inside torch, numpy or h5py), and must leave what is on disk as it was."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import glimpse_env  # noqa: F401  (registers the ids)

OURS = ("glimpse_env", "agents")
CUDA_MISSING = not torch.cuda.is_available()


def _raised_by_us(excinfo: pytest.ExceptionInfo) -> bool:
    """The exception was raised in this project's code (its last frame is ours)."""
    return any(part in str(excinfo.traceback[-1].path) for part in OURS)


# ---- the environments ------------------------------------------------------------------------
GOOD_LOCATION = np.zeros(2, np.float32)
SINGLE_ENV_CASES = {
    "NaN location": ({}, {"location": np.array([np.nan, 0], np.float32), "label": 0}, "NaN"),
    "wrong location shape": ({}, {"location": np.zeros(3, np.float32), "label": 0}, "shape"),
    "label 10": ({}, {"location": GOOD_LOCATION, "label": 10}, "0..9"),
    "float label": ({}, {"location": GOOD_LOCATION, "label": 2.5}, "integer class"),
    "no label key": ({}, {"location": GOOD_LOCATION}, "keys 'location' and 'label'"),
    "float canvas": ({"canvas_size": 60.5}, None, "canvas_size must be a positive int"),
    "bad split": ({"split": "validation"}, None, "split must be one of"),
    "zero glimpse": ({"glimpse_size": 0}, None, "glimpse_size must be a positive int"),
    "bad device": ({"device": "tpu9"}, None, "device must be"),
}


@pytest.mark.parametrize("case", sorted(SINGLE_ENV_CASES))
def test_single_env_rejects(case):
    kwargs, action, message = SINGLE_ENV_CASES[case]
    with pytest.raises(ValueError, match=message) as excinfo:
        env = gym.make("ClutteredMNIST-v0", **kwargs)
        env.reset(seed=0)
        env.step(action)
    assert _raised_by_us(excinfo), excinfo.traceback[-1]
    assert len(str(excinfo.value).splitlines()) == 1


VECTOR_CASES = {
    "num_envs -1": ({"num_envs": -1}, None, "num_envs must be a positive int"),
    "num_envs 2.0": ({"num_envs": 2.0}, None, "num_envs must be a positive int"),
    "batched NaN": ({"num_envs": 2}, {"location": np.full((2, 2), np.inf), "label": [0, 0]}, "NaN"),
    "unbatched action": ({"num_envs": 2}, {"location": GOOD_LOCATION, "label": 0}, "shape"),
    "bad output": ({"num_envs": 2, "output": "jax"}, None, "output must be one of"),
}


@pytest.mark.parametrize("case", sorted(VECTOR_CASES))
def test_vector_env_rejects(case):
    kwargs, action, message = VECTOR_CASES[case]
    with pytest.raises(ValueError, match=message) as excinfo:
        venv = gym.make_vec("ClutteredMNIST-v0", **kwargs)
        venv.reset(seed=0)
        venv.step(action)
    assert _raised_by_us(excinfo), excinfo.traceback[-1]


# ---- the command lines -----------------------------------------------------------------------
def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture()
def workspace(tmp_path):
    """A checkpoint, a zoo-style file, an empty file, a directory: things a user points at."""
    from agents.training.config import TrainConfig
    from agents.training.trainer import Trainer

    config = TrainConfig(
        env_id="MNIST-v0", num_glimpses=2, hidden=8, glimpse_hidden=8, location_hidden=8,
        batch_size=4, updates=1, final_eval_canvases=10, eval_batch_size=10, num_threads=1,
    )  # fmt: skip
    Trainer(config, tmp_path / "run", progress=False).save_checkpoint()
    (tmp_path / "empty.hdf5").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("hello world\n")
    (tmp_path / "one.pt").write_bytes(b"x")
    (tmp_path / "adir").mkdir()
    (tmp_path / "nodata").mkdir()
    return tmp_path


CKPT = "{w}/run/checkpoint.pt"
TRAIN_CLI_CASES = {
    "negative max grad norm": (["--max-grad-norm", "-1"], "max_grad_norm must be > 0"),
    "zero hidden": (["--hidden", "0"], "hidden must be a positive int"),
    "negative eval every": (["--eval-every", "-1"], "eval_every must be an int >= 0"),
    "unknown preset": (["--preset", "ram-nope"], "unknown preset 'ram-nope'"),
    "nan loss weight": (["--location-loss-weight", "nan"], "location_loss_weight must be a finite"),
    "inf lr": (["--lr", "inf"], "lr must be a finite number"),
    "negative seed": (["--seed", "-1"], "seed must be an int >= 0"),
    "huge seed": (["--seed", "99999999999999999999"], "seed must be below 2**63"),
    "negative eval seed": (["--eval-seed", "-1"], "eval_seed must be an int >= 0"),
    "absurd thread count": (["--num-threads", "100000"], "num_threads must be at most"),
    "unknown device": (["--device", "foo"], "device must be 'cpu', 'cuda' or 'cuda:N'"),
    "DRAM's glimpse network for RAM": (["--glimpse-network", "fc"], "does not apply to RAM"),
    "notes over two lines": (["--notes", "a\nb"], "notes must be one line"),
    "EDRAM's window for RAM": (
        ["--window-size", "5", "--conv-channels", "3"],
        "--conv-channels, --window-size do not apply to RAM",
    ),
    "eval missing file": (["--eval", "{w}/missing.pt"], "no model file at"),
    "eval empty file": (["--eval", "{w}/empty.hdf5"], "not a readable model file"),
    "eval a text file": (["--eval", "{w}/notes.txt"], "not a readable model file"),
    "eval a 1-byte file": (["--eval", "{w}/one.pt"], "not a readable model file"),
    "resume a text file": (["--resume", "{w}/notes.txt"], "not a readable checkpoint"),
    "init from a text file": (["--init-from", "{w}/notes.txt"], "not a readable model file"),
    "eval a directory": (["--eval", "{w}/adir"], "no model file at"),
    "eval with a model flag": (["--eval", CKPT, "--hidden", "9"], "--hidden cannot be applied"),
    "resume with lr": (["--resume", CKPT, "--lr", "0.1"], "--lr cannot be applied"),
    "init from missing": (["--init-from", "{w}/missing.pt"], "no model file at"),
    "data dir without files": (["--data-dir", "{w}/nodata"], "MNIST files not found"),
    **(
        {
            "cuda without cuda": (["--device", "cuda"], "this torch has no usable CUDA"),
            "eval on cuda without cuda": (
                ["--eval", CKPT, "--device", "cuda"],
                "this torch has no usable CUDA",
            ),
        }
        if CUDA_MISSING
        else {}
    ),
}


@pytest.mark.parametrize("case", sorted(TRAIN_CLI_CASES))
def test_training_cli_rejects(case, workspace, capsys):
    from agents.cli.attention import main

    argv, message = TRAIN_CLI_CASES[case]
    argv = [a.format(w=workspace) for a in argv]
    logdir = workspace / "runs"
    before = _tree(workspace)
    if "--eval" not in argv and "--resume" not in argv:  # a new run: where it would go
        argv += ["--logdir", str(logdir), "--updates", "1"]
    status = main("ram", "ram-mnist28-6g", argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert "Traceback" not in "\n".join(err)
    assert _tree(workspace) == before  # nothing written, nothing lost (no empty run dirs)
    assert not logdir.exists() or not any(logdir.iterdir())


DATA_CLI_CASES = {
    "info missing": (["info", "{w}/missing.hdf5"], "no such file"),
    "info empty": (["info", "{w}/empty.hdf5"], "not a readable HDF5 file"),
    "info directory": (["info", "{w}/adir"], "is a directory"),
    "make onto directory": (["make-hdf5", "{w}/adir", "--num-train", "2"], "is a directory"),
    "negative counts": (["make-hdf5", "{w}/x.hdf5", "--num-train", "-1"], "non-negative"),
    "negative chunk size": (
        ["make-hdf5", "{w}/x.hdf5", "--num-train", "2", "--chunk-size", "-1"],
        "chunk_size must be a positive int",
    ),
}


@pytest.mark.parametrize("case", sorted(DATA_CLI_CASES))
def test_data_cli_rejects(case, workspace, capsys):
    from glimpse_env.data.__main__ import main

    argv, message = DATA_CLI_CASES[case]
    before = _tree(workspace)
    assert main([a.format(w=workspace) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert _tree(workspace) == before


PPO_CLI_CASES = {
    "zero timesteps": (["--timesteps", "0"], "timesteps must be a positive int"),
    "grid of one": (["--grid-size", "1"], "grid_size must be >= 2"),
    "zero frame stack": (
        ["--algo", "ppo", "--frame-stack", "0"],
        "frame_stack must be a positive int",
    ),
    "unknown env": (["--env-id", "Pong-v5"], "unknown env id 'Pong-v5'"),
    "resume with a learning rate": (
        ["--resume", "{w}/run", "--learning-rate", "5"],
        "--learning-rate cannot be applied (--resume uses",
    ),
    "eval with a learning rate": (
        ["--eval", "{w}/run/model.zip", "--learning-rate", "9"],
        "--learning-rate cannot be applied (--eval uses",
    ),
    "frame stack for recurrent-ppo": (
        ["--algo", "recurrent-ppo", "--frame-stack", "4"],
        "--frame-stack cannot be applied",
    ),
    "frame stack for the default algo": (
        ["--frame-stack", "4"],
        "--frame-stack cannot be applied",
    ),
    "trajectories without eval": (["--trajectories", "x.png"], "--trajectories cannot be applied"),
    "zero n-steps": (["--n-steps", "0"], "--n-steps must be a finite number (a count >= 1)"),
    "zero n-epochs": (["--n-epochs", "0"], "--n-epochs must be a finite number (a count >= 1)"),
    "nan learning rate": (["--learning-rate", "nan"], "--learning-rate must be a finite number"),
    "logdir a file": (["--logdir", "{w}/notes.txt"], "notes.txt is a file, not a directory"),
}


@pytest.mark.parametrize("case", sorted(PPO_CLI_CASES))
def test_ppo_cli_rejects(case, workspace, capsys):
    from agents.cli.sb3 import main

    argv, message = PPO_CLI_CASES[case]
    argv = [a.format(w=workspace) for a in argv]
    if not {"--eval", "--resume", "--logdir"} & set(argv):
        argv += ["--logdir", str(workspace / "runs")]
    before = _tree(workspace)
    assert main([*argv, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert _tree(workspace) == before


def test_a_second_process_cannot_train_in_the_same_run_directory(workspace, capsys):
    """Two ``--resume`` of one checkpoint at once: the second is refused before it writes."""
    import fcntl

    from agents.cli.attention import RUN_LOCK, main

    run = workspace / "run"
    with (run / RUN_LOCK).open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        before = _tree(workspace)
        status = main("ram", "ram-mnist28-6g", ["--resume", str(run / "checkpoint.pt")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "another process is training in" in err[-1], err
    assert _tree(workspace) == before  # command.txt and the logs untouched


def test_zoo_card_refuses_a_corrupt_current_card_before_scoring(workspace, tmp_path, capsys):
    from agents.zoo_card import main

    models = tmp_path / "zoo"
    models.mkdir()
    (models / "m.json").write_text("{not json")
    argv = [str(workspace / "run" / "checkpoint.pt"), "--name", "m", "--if-better",
            "--models-dir", str(models), "--no-progress"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "m.json is not a readable model card" in err[0], err
    (models / "m.json").write_text('{"name": "m"}')  # JSON, but no scores
    assert main(argv) == 2
    assert "m.json is not a model card (no 'valid' scores)" in capsys.readouterr().err
    assert main([argv[0], "--name", "../m", "--models-dir", str(models)]) == 2
    assert "must be lower-case letters" in capsys.readouterr().err
    (tmp_path / "afile").write_text("x")
    assert main([argv[0], "--name", "m", "--models-dir", str(tmp_path / "afile")]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_a_killed_publish_leaves_the_zoo_as_it_was(workspace, tmp_path):
    """SIGTERM while zoo_card scores: exit 130, no scratch directory, no half entry."""
    import signal
    import subprocess
    import sys
    import time

    models = tmp_path / "zoo"
    command = [sys.executable, "-m", "agents.zoo_card", str(workspace / "run" / "checkpoint.pt"),
               "--name", "m", "--models-dir", str(models), "--no-progress"]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(models.glob(".publishing-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(models.glob(".publishing-*")), "the publish never started scoring"
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "was not published" in err
    assert sorted(p.name for p in models.iterdir() if not p.name.endswith(".lock")) == []


@pytest.mark.parametrize(
    "task, message",
    [
        (dict(num_glimpses=10**10), "lower num_glimpses"),
        (dict(canvas_size=10**6), "lower canvas_size"),
        (dict(glimpse_size=30000), "lower glimpse_size"),
        (dict(num_distractors=10**9), "lower num_distractors"),
        (dict(num_scales=2000), "lower num_scales or scale_factor"),
        (dict(scale_factor=10**6), "lower num_scales or scale_factor"),
    ],
)
def test_task_sizes_beyond_the_machine_are_refused_when_the_config_is_built(task, message):
    """Each of these allocated gigabytes, or overflowed, at reset; now the TaskConfig refuses
    it at once and names the field."""
    from glimpse_env.envs import task_of

    with pytest.raises(ValueError, match=message):
        task_of("ClutteredMNIST-v0", **task)


def test_a_vector_env_beyond_the_machine_is_refused_before_allocating():
    import gymnasium as gym

    with pytest.raises(ValueError, match="lower num_envs"):
        gym.make_vec("ClutteredMNIST-v0", num_envs=2 * 10**6)


@pytest.mark.parametrize("rows", [10**7, 10**5])
def test_a_dataset_file_that_claims_rows_it_does_not_hold_is_refused(tmp_path, rows):
    """A few-KB file whose never-written ``features`` claims millions of canvases took the
    loader to gigabytes; its stored size is checked against its claim before reading."""
    import h5py

    from glimpse_env.data.sources import ImageSource

    images = np.zeros((30, 28, 28, 1), np.uint8)
    path = ImageSource.from_arrays((images, np.arange(30) % 3)).write_hdf5(tmp_path / "c.hdf5")
    with h5py.File(path, "r+") as f:  # the same file, its tables now claiming `rows` rows
        table = np.asarray(f.attrs["split"]).copy()
        for name, shape, dtype in (
            ("features", (rows, 1, 28, 28), np.uint8),
            ("labels", (rows, *f["labels"].shape[1:]), f["labels"].dtype),
            ("locations", (rows, *f["locations"].shape[1:]), np.float32),
        ):
            del f[name]
            f.create_dataset(name, shape, dtype=dtype, chunks=(1, *shape[1:]))
        table["stop"] = np.where(table["split"] == table["split"][0], rows, table["stop"])
        f.attrs["split"] = table
    assert path.stat().st_size < 100_000
    with pytest.raises(ValueError, match=r"claims .* but the file stores"):
        ImageSource.from_hdf5(path)


def test_wide_grayscale_images_are_scaled_not_clipped(tmp_path):
    """A 16-bit PNG ramp kept 2 of 400 pixels below 255 and a float TIFF in [0, 1] became
    black; both are scaled to 0-255 now."""
    from PIL import Image

    from glimpse_env.data.folder import read_image_folder

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    ramp = np.arange(400).reshape(20, 20)
    Image.fromarray((ramp * 163).astype(np.uint16)).save(tmp_path / "a" / "ramp16.png")
    Image.fromarray((ramp / 399).astype(np.float32), "F").save(tmp_path / "b" / "ramp.tiff")
    images = read_image_folder(tmp_path, 20).images
    for image in images:
        assert image.max() >= 253 and (image == image.max()).sum() < 5  # a ramp, not a plateau
        assert len(np.unique(image)) > 200


def test_a_zoo_name_with_a_dot_loads_by_name(tmp_path, monkeypatch):
    from agents import zoo
    from agents.training.config import TrainConfig
    from agents.training.registry import build_agent, glimpse_shape
    from agents.training.saved import save_zoo_model

    config = TrainConfig(env_id="MNIST-v0", hidden=8, glimpse_hidden=8, location_hidden=8)
    lineage = {"commands": [], "updates": 0, "samples": 0, "wall_clock_s": 0.0}
    model = build_agent(config, glimpse_shape(config))
    save_zoo_model(tmp_path / "tiny-v1.2.safetensors", "tiny-v1.2", config, model, lineage)
    monkeypatch.setenv("GLIMPSE_ENV_MODELS", str(tmp_path))
    assert "tiny-v1.2" in zoo.available()
    assert zoo.load("tiny-v1.2").config.hidden == 8


def test_a_zoo_file_whose_tensors_are_not_its_stated_dtype_is_refused(tmp_path):
    """int8 tensors with a hash that agrees with them loaded silently and scored 85% error."""
    import json

    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from agents import zoo
    from agents.training.config import TrainConfig
    from agents.training.registry import build_agent, glimpse_shape
    from agents.training.saved import save_zoo_model
    from agents.weights import state_dict_sha256

    config = TrainConfig(env_id="MNIST-v0", hidden=8, glimpse_hidden=8, location_hidden=8)
    lineage = {"commands": [], "updates": 0, "samples": 0, "wall_clock_s": 0.0}
    path = tmp_path / "m.safetensors"
    save_zoo_model(path, "m", config, build_agent(config, glimpse_shape(config)), lineage)
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata()
    state = {k: (v * 100).to(torch.int8) for k, v in load_file(path).items()}
    metadata["weights_sha256"] = state_dict_sha256(state)
    save_file(state, str(path), metadata=metadata)
    assert json.loads(metadata["config"])["hidden"] == 8
    with pytest.raises(ValueError, match="is int8, its metadata says float16"):
        zoo.load(path)


def test_deeply_nested_cards_and_configs_are_one_clear_error(tmp_path):
    from agents.sb3.config import saved_config
    from agents.training.saved import read_card

    deep = "[" * 200_000 + "]" * 200_000
    (tmp_path / "card.json").write_text(deep)
    with pytest.raises(ValueError, match="not a readable model card"):
        read_card(tmp_path / "card.json")
    (tmp_path / "config.json").write_text(deep)
    with pytest.raises(ValueError, match="not a readable run config"):
        saved_config(tmp_path)
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a run config"):
        saved_config(tmp_path)


def test_sync_card_on_what_is_not_a_zoo_file_is_one_clear_error(tmp_path, capsys):
    from agents.zoo_card import main

    (tmp_path / "notes.txt").write_text("not a model")
    for target in (tmp_path / "notes.txt", tmp_path):
        assert main(["--sync-card", str(target)]) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line.startswith("error: ") and "zoo file" in line


def test_image_arrays_with_string_labels_or_a_bad_seed_or_size_are_refused():
    from glimpse_env.data.sources import ImageSource

    images = np.zeros((20, 8, 8), np.uint8)
    with pytest.raises(ValueError, match="labels must be integers"):
        ImageSource.from_arrays((images, np.array(["a", "b"] * 10)))
    with pytest.raises(ValueError, match="seed must be an int >= 0"):
        ImageSource.from_arrays((images, np.arange(20) % 2), seed=-1)
    with pytest.raises(ValueError, match="size must be a positive int"):
        ImageSource.from_arrays((images, np.arange(20) % 2), size=0)


def test_publishing_into_a_models_dir_it_cannot_write_is_one_clear_error(tmp_path, capsys):
    """An unwritable --models-dir (here a file where the directory should be: root writes into
    read-only directories) gave a raw traceback."""
    from agents.zoo_card import main

    blocked = tmp_path / "models"
    blocked.write_text("a file, not a directory")
    argv = ["ram-cluttered60-6g", "--name", "x", "--models-dir", str(blocked), "--no-progress"]
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: ") and "the zoo is as it was" in line


def test_an_image_too_large_to_decode_safely_is_one_error_naming_it(tmp_path, monkeypatch):
    from PIL import Image

    from glimpse_env.data.folder import read_image_folder

    (tmp_path / "a").mkdir()
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "a" / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 64x64 is then a decompression bomb
    with pytest.raises(ValueError, match=r"big\.png is too large an image to read safely"):
        read_image_folder(tmp_path, 32)


def test_an_unknown_env_keyword_is_one_error_naming_it_and_the_fields():
    """Python's ``TypeError`` for an unknown keyword (Gymnasium re-raises it with the env's id
    and kwargs appended, as for any env), and a ``ValueError`` too."""
    import gymnasium as gym

    with pytest.raises(ValueError, match=r"unexpected keyword argument 'canvas_sise'") as caught:
        gym.make("ClutteredMNIST-v0", canvas_sise=80)
    assert isinstance(caught.value, TypeError) and "the task fields are" in str(caught.value)


def test_a_class_folder_whose_name_is_not_utf8_is_named_in_the_error(tmp_path):
    import os

    from PIL import Image

    from glimpse_env.data.folder import read_image_folder

    bad = os.fsdecode(b"caf\xe9")  # Latin-1 bytes: not UTF-8
    for name in (bad, "good"):
        (tmp_path / name).mkdir()
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / name / "a.png")
    with pytest.raises(ValueError, match=r"class folder b'caf\\xe9' .* is not a UTF-8 name"):
        read_image_folder(tmp_path, 8)
