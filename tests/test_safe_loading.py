"""No loading path runs code from a file: crafted pickles are refused with one clear error line,
and altered weights are an error, never a silently different result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from agents.runs.checkpoint import load_checkpoint
from agents.training.config import TrainConfig
from agents.training.trainer import Trainer
from agents.weights import UnsafeFileError, WeightsMismatchError

REPO = Path(__file__).resolve().parents[1]


class _Payload:
    """Unpickling this object would create ``marker`` (via ``os.system``)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def crafted_pt(path: Path, marker: Path) -> Path:
    """A torch file whose unpickling would run code; shaped like a checkpoint."""
    torch.save({"format": "glimpse-env-agent-checkpoint-v1", "config": _Payload(marker)}, path)
    return path


def crafted_sb3_zip(path: Path, marker: Path) -> Path:
    """An SB3-style ``model.zip`` whose policy parameters (and data) would run code."""
    import base64
    import pickle

    inner = path.parent / "policy.pth"
    torch.save({"weight": _Payload(marker)}, inner)
    evil = base64.b64encode(pickle.dumps(_Payload(marker))).decode()
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data", json.dumps({"policy_class": {":serialized:": evil}}))
        archive.write(inner, "policy.pth")
        archive.write(inner, "policy.optimizer.pth")
        archive.writestr("pytorch_variables.pth", b"")
    inner.unlink()
    return path


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def _assert_refused(done: subprocess.CompletedProcess, marker: Path) -> None:
    assert not marker.exists(), "the crafted file ran code"
    assert done.returncode != 0
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr  # one clear line, no traceback
    assert "refusing to load" in lines[0] and "nothing in it was run" in lines[0], lines[0]


@pytest.mark.parametrize(
    "command",
    [
        ["train/ram_agent.py", "--eval"],
        ["train/ram_agent.py", "--resume"],
        ["train/dram_agent.py", "--eval"],
        ["train/dram_agent.py", "--resume"],
        ["train/edram_agent.py", "--eval"],
        ["train/edram_agent.py", "--resume"],
        ["train/ram_agent.py", "--updates", "1", "--init-from"],
        ["examples/render_agent.py"],
    ],
    ids=lambda c: " ".join(c),
)
def test_crafted_checkpoint_runs_no_code_through_the_command_lines(tmp_path, command):
    marker = tmp_path / "marker"
    path = crafted_pt(tmp_path / "checkpoint.pt", marker)
    target = tmp_path if command[-1] == "--resume" else path  # --resume takes the run directory
    done = _run(
        *command, str(target), *(["--logdir", str(tmp_path)] if "--init-from" in command else [])
    )
    _assert_refused(done, marker)


@pytest.mark.parametrize("mode", ["--eval", "--resume"])
def test_crafted_sb3_model_runs_no_code(tmp_path, mode):
    from agents.sb3.config import BaselineConfig

    marker = tmp_path / "marker"
    run = tmp_path / "run"
    run.mkdir()
    config = BaselineConfig(env_id="MNIST-v0", num_envs=4, timesteps=8)
    (run / "config.json").write_text(json.dumps(config.to_dict()))
    (run / "checkpoint.json").write_text(json.dumps({"timesteps": 0, "wall_clock_s": 0.0}))
    crafted_sb3_zip(run / "model.zip", marker)
    target = str(run / "model.zip") if mode == "--eval" else str(run)
    done = _run("train/ppo_baseline.py", mode, target, "--no-progress")
    _assert_refused(done, marker)
    assert "test accuracy" not in done.stdout


def test_crafted_files_run_no_code_in_process(tmp_path):
    from agents import zoo

    marker = tmp_path / "marker"
    path = crafted_pt(tmp_path / "model.pt", marker)
    for load in (load_checkpoint, zoo.load, zoo.read_weights):
        with pytest.raises(UnsafeFileError, match="nothing in it was run"):
            load(path)
    config = TrainConfig(env_id="MNIST-v0", hidden=8, glimpse_hidden=8, location_hidden=8,
                         init_from=str(path))  # fmt: skip
    with pytest.raises(UnsafeFileError):
        Trainer(config, tmp_path / "run", progress=False)
    assert not marker.exists()


def _tiny_checkpoint(tmp_path: Path) -> Path:
    config = TrainConfig(
        env_id="MNIST-v0", num_glimpses=2, hidden=16, glimpse_hidden=8, location_hidden=8,
        batch_size=8, updates=1, final_eval_canvases=20, eval_batch_size=20, num_threads=1,
    )  # fmt: skip
    trainer = Trainer(config, tmp_path / "run", progress=False)
    return trainer.save_checkpoint()


def test_altered_weights_are_an_error_not_another_result(tmp_path):
    from agents import zoo

    path = _tiny_checkpoint(tmp_path)
    payload = torch.load(path, weights_only=True)
    name = next(iter(payload["model"]))
    payload["model"][name].view(-1)[:1000] *= -1  # flip up to 1,000 weights
    altered = tmp_path / "altered.pt"
    torch.save(payload, altered)
    with pytest.raises(WeightsMismatchError, match="do not match their recorded sha256"):
        load_checkpoint(altered)
    with pytest.raises(WeightsMismatchError):
        zoo.load(altered)
    done = _run("train/ram_agent.py", "--eval", str(altered))
    assert done.returncode == 2 and "recorded sha256" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_sb3_model_with_altered_parameters_is_an_error(tmp_path):
    from agents.sb3.baselines import train_baseline
    from agents.sb3.config import BaselineConfig
    from agents.sb3.files import load_model

    hyper = dict(n_steps=6, batch_size=24, n_epochs=1, policy_kwargs=dict(net_arch=[8]))
    config = BaselineConfig(
        algo="ppo", env_id="MNIST-v0", num_envs=4, timesteps=24, eval_canvases=10,
        eval_batch_size=10, eval_every=10**9, checkpoint_every=10**9, hyper=hyper,
    )  # fmt: skip
    train_baseline(config, tmp_path / "run", progress=False)
    model_zip = tmp_path / "run" / "model.zip"
    load_model(model_zip, config)  # the untouched file loads
    with zipfile.ZipFile(model_zip) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    policy = torch.load(__import__("io").BytesIO(entries["policy.pth"]), weights_only=True)
    name = next(k for k, v in policy.items() if v.is_floating_point())
    policy[name].view(-1)[0] += 1.0
    buffer = __import__("io").BytesIO()
    torch.save(policy, buffer)
    entries["policy.pth"] = buffer.getvalue()
    with zipfile.ZipFile(model_zip, "w") as archive:
        for entry, data in entries.items():
            archive.writestr(entry, data)
    with pytest.raises(WeightsMismatchError, match="policy_sha256"):
        load_model(model_zip, config)


def test_altered_or_damaged_zoo_files_are_one_clear_error(tmp_path):
    """Zoo files are safetensors: altered tensors fail the sha256 check, and a damaged or
    foreign file is one clear error, in process and through the command line."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from agents import zoo
    from agents.zoo_card import publish

    models = tmp_path / "models"
    publish(_tiny_checkpoint(tmp_path), "tiny", models, progress=False, canvases=20)
    path = models / "tiny.safetensors"
    zoo.load(path)  # the untouched file loads
    with safe_open(path, framework="pt") as stored:
        metadata = stored.metadata()
    tensors = load_file(path)
    name = next(k for k, v in tensors.items() if v.is_floating_point())
    tensors[name].view(-1)[0] += 1.0
    altered = tmp_path / "altered.safetensors"
    save_file(tensors, altered, metadata)
    with pytest.raises(WeightsMismatchError, match="do not match their recorded sha256"):
        zoo.load(altered)
    done = _run("train/ram_agent.py", "--eval", str(altered))
    assert done.returncode == 2 and "recorded sha256" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1

    foreign = tmp_path / "foreign.safetensors"
    save_file(tensors, foreign, {"format": "someone-else"})
    with pytest.raises(ValueError, match="not a zoo model"):
        zoo.load(foreign)
    data = path.read_bytes()
    for cut in (len(data) - 100, 20):  # inside the tensors, inside the header
        damaged = tmp_path / f"damaged{cut}.safetensors"
        damaged.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="not a readable"):
            zoo.load(damaged)
        done = _run("train/ram_agent.py", "--eval", str(damaged))
        assert done.returncode == 2 and "not a readable" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


def test_a_zoo_file_whose_config_claims_a_huge_model_is_refused_before_building_it(tmp_path):
    """A small file whose config says ``hidden=12000`` would have the loader build a 4.8 GB
    model; its tensors are checked against the config's shapes first (on the meta device)."""
    import dataclasses
    import time

    from agents import zoo
    from agents.training.config import TrainConfig
    from agents.training.registry import build_agent, glimpse_shape
    from agents.training.saved import save_zoo_model

    small = TrainConfig(env_id="MNIST-v0", hidden=8, glimpse_hidden=8, location_hidden=8)
    model = build_agent(small, glimpse_shape(small))
    claimed = dataclasses.replace(small, hidden=12000)
    lineage = {"commands": [], "updates": 0, "samples": 0, "wall_clock_s": 0.0}
    save_zoo_model(tmp_path / "crafted.safetensors", "crafted", claimed, model, lineage)
    started = time.perf_counter()
    with pytest.raises(ValueError, match="do not fit the model its config describes"):
        zoo.load(tmp_path / "crafted.safetensors")
    assert time.perf_counter() - started < 5
