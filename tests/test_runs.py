"""What every trainer shares (agents.runs): one final.json schema, one metrics log, one run
directory layout, one ``--resume`` and the flags generated from each config."""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agents.config_io import add_config_flags, given_fields
from agents.evaluation import EvalResult
from agents.runs.directory import resume_checkpoint
from agents.runs.final import (
    AGENT_FAMILIES,
    SCHEMA,
    FinalResult,
    family_of,
    read_final,
    write_final,
)
from agents.runs.log import valid_curve


def _attention_run(run_dir: Path) -> None:
    from agents.training.config import TrainConfig
    from agents.training.trainer import Trainer

    config = TrainConfig(
        env_id="MNIST-v0", num_glimpses=2, glimpse_hidden=16, location_hidden=8, hidden=16,
        batch_size=16, updates=4, eval_every=2, eval_canvases=40, final_eval_canvases=40,
        eval_batch_size=40, mc_samples=2, num_threads=1,
    )  # fmt: skip
    Trainer(config, run_dir, progress=False).train()


def _supervised_run(run_dir: Path) -> None:
    from agents.supervised.config import SupervisedConfig
    from agents.supervised.trainer import SupervisedTrainer

    config = SupervisedConfig(
        env_id="MNIST-v0", model="fc", batch_size=16, updates=4, eval_every=2, eval_canvases=40,
        final_eval_canvases=40, eval_batch_size=40, checkpoint_every=2, log_every=2,
        num_threads=1,
    )  # fmt: skip
    SupervisedTrainer(config, run_dir, progress=False).train()


def _sb3_run(run_dir: Path) -> None:
    from agents.sb3.baselines import train_baseline
    from agents.sb3.config import BaselineConfig

    hyper = dict(n_steps=6, batch_size=48, n_epochs=1, policy_kwargs=dict(net_arch=[16]))
    config = BaselineConfig(
        algo="ppo", env_id="MNIST-v0", num_envs=8, timesteps=96, eval_canvases=40,
        eval_batch_size=40, eval_every=48, checkpoint_every=48, hyper=hyper, num_threads=1,
    )  # fmt: skip
    train_baseline(config, run_dir, progress=False)


def test_every_family_writes_one_final_schema_read_by_the_same_code(tmp_path):
    """The attention, supervised and SB3 trainers' runs are read by one reader: the same
    final.json fields, the same validation curve in metrics.jsonl, the same files."""
    runs = {"attention": tmp_path / "ram", "supervised": tmp_path / "fc", "sb3": tmp_path / "ppo"}
    _attention_run(runs["attention"])
    _supervised_run(runs["supervised"])
    _sb3_run(runs["sb3"])
    keys = None
    for family, run_dir in runs.items():
        raw = json.loads((run_dir / "final.json").read_text())
        keys = keys or set(raw)
        assert set(raw) == keys, family  # one schema: the same keys for every family
        final = read_final(run_dir)
        assert (final.schema, final.family) == (SCHEMA, family)
        assert final.canvases == 40 and final.eval_seed == 20140624
        assert 0 <= final.test_errors_greedy <= 40
        assert final.test_error_greedy == pytest.approx(100 * final.test_errors_greedy / 40)
        assert (run_dir / final.weights).is_file()
        assert (run_dir / "config.json").is_file()
        curve = valid_curve(run_dir)
        assert curve and all(len(point) == 3 for point in curve), family
        assert final.best_valid["error_pct"] == min(error for _, _, error in curve)
        assert final.best_valid["progress"] in [progress for progress, _, _ in curve]
    assert read_final(runs["attention"]).stochastic  # RAM is also scored by sampling
    assert read_final(runs["attention"]).env_steps == 4 * 16 * 2  # updates x batch x glimpses
    assert not read_final(runs["supervised"]).stochastic
    assert read_final(runs["supervised"]).env_steps is None  # never steps an env
    sb3 = read_final(runs["sb3"])
    assert sb3.progress_unit == "env_steps" and sb3.env_steps == sb3.progress >= 96


def test_read_final_names_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="has not finished"):
        read_final(tmp_path)
    (tmp_path / "final.json").write_text(json.dumps({"test_error_greedy": 1.0}))
    with pytest.raises(ValueError, match="older glimpse-env"):
        read_final(tmp_path)
    (tmp_path / "final.json").write_text("{")
    with pytest.raises(ValueError, match="not readable JSON"):
        read_final(tmp_path)
    (tmp_path / "final.json").write_text(json.dumps({"schema": SCHEMA, "family": "sb3"}))
    with pytest.raises(ValueError, match="lacks"):
        read_final(tmp_path)


def test_final_result_round_trips_and_refuses_mismatched_scores(tmp_path):
    def score(errors: int, total: int = 100, split: str = "test") -> EvalResult:
        return EvalResult("greedy", errors, total, split=split)

    fields = dict(
        family="attention", agent="ram", name="p", env_id="MNIST-v0", progress=3, env_steps=9,
        wall_clock_s=1.5, interrupted=False, weights="checkpoint.pt",
        best_valid={"error_pct": 2.0, "progress": 3}, eval_seed=1,
    )  # fmt: skip
    final = FinalResult.from_scores(
        valid_greedy=score(2, split="valid"), test_greedy=score(3), valid_mc=score(1),
        test_mc=score(4), mc_samples=10, **fields,
    )  # fmt: skip
    write_final(tmp_path, final)
    assert read_final(tmp_path) == final
    assert json.loads((tmp_path / "final.json").read_text())["progress_unit"] == "updates"
    with pytest.raises(ValueError, match="both Monte-Carlo scores or neither"):
        FinalResult.from_scores(
            valid_greedy=score(2), test_greedy=score(3), valid_mc=score(1), **fields
        )
    with pytest.raises(ValueError, match="one count"):
        FinalResult.from_scores(valid_greedy=score(2, 50), test_greedy=score(3), **fields)
    with pytest.raises(ValueError, match="family must be one of"):
        FinalResult.from_scores(valid_greedy=score(2), test_greedy=score(3), **{
            **fields, "family": "other"})  # fmt: skip


def test_every_trainable_agent_has_a_family():
    from agents.sb3.config import ALGOS
    from agents.supervised.models import BASELINES
    from agents.training.config import AGENT_FIELDS

    assert set(AGENT_FAMILIES) == {*ALGOS, *BASELINES, *AGENT_FIELDS}
    assert family_of("ram") == "attention" and family_of("ppo") == "sb3"
    with pytest.raises(ValueError, match="unknown agent"):
        family_of("a2c")


def test_resume_takes_the_run_directory_and_still_accepts_a_checkpoint_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such run directory"):
        resume_checkpoint(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"has no checkpoint\.pt yet"):
        resume_checkpoint(tmp_path)
    checkpoint = tmp_path / "checkpoint.pt"
    checkpoint.write_bytes(b"")
    assert resume_checkpoint(tmp_path) == checkpoint
    with pytest.warns(FutureWarning, match="--resume takes the run directory"):
        assert resume_checkpoint(checkpoint) == checkpoint


def test_config_flags_come_from_the_dataclass_with_its_docstring_as_help():
    @dataclasses.dataclass
    class Config:
        """A config.

        Attributes:
            env_id: the task.
            steps: how many steps, a count.
            fast: go fast.
        """

        env_id: str = "MNIST-v0"
        steps: int = 3
        fast: bool = False

    parser = argparse.ArgumentParser()
    add_config_flags(parser, Config, deprecated={"--env": "env_id"})
    text = parser.format_help()
    assert "how many steps, a count. (default 3)" in text and "--no-fast" in text
    assert "--env " not in text  # the old spelling is hidden
    assert given_fields(parser.parse_args(["--steps", "5"]), Config) == {"steps": 5}
    with pytest.warns(FutureWarning, match="--env is now --env-id"):
        given = given_fields(
            parser.parse_args(["--env", "X"]), Config, deprecated={"--env": "env_id"}
        )
    assert given == {"env_id": "X"}
    both = parser.parse_args(["--env", "X", "--env-id", "Y"])
    with pytest.raises(ValueError, match="give --env-id or --env, not both"):
        given_fields(both, Config, deprecated={"--env": "env_id"})


def test_config_json_records_only_the_fields_that_apply():
    from agents.sb3.config import BaselineConfig
    from agents.training.config import TrainConfig
    from agents.training.presets import preset_config

    ram = preset_config("ram-cluttered60-6g").to_dict()
    assert "window_size" not in ram and "glimpse_network" not in ram  # EDRAM's, DRAM's
    assert "canvas_size" not in ram  # left to the env id
    assert TrainConfig.from_dict(ram) == preset_config("ram-cluttered60-6g")
    edram = preset_config("edram-cluttered100-small").to_dict()
    assert "window_size" in edram and "location_std" not in edram
    assert "frame_stack" not in BaselineConfig(algo="recurrent-ppo").to_dict()
    assert BaselineConfig(algo="ppo").to_dict()["frame_stack"] == 6


def test_seeded_keys_are_the_keys_a_seeded_reset_gives(mnist_dir):
    from glimpse_env.envs import ENV_IDS
    from glimpse_env.envs.vector import GlimpseVectorEnv
    from glimpse_env.keyed_random import seeded_keys

    task = dict(ENV_IDS["MNIST-v0"], split="train", data_dir=str(mnist_dir))
    venv = GlimpseVectorEnv(3, **task)
    first, _ = venv.reset(seed=11)
    again = GlimpseVectorEnv(3, **task)
    same, _ = again.reset_to(seeded_keys(11, 3), np.zeros(3, dtype=np.int64))
    assert np.array_equal(first["glimpse"], same["glimpse"])


def _hold_lock(path) -> subprocess.Popen:
    """Another process holding ``path``'s run lock (as a trainer does) until it is killed."""
    code = (
        "import sys, time\n"
        "from glimpse_env.atomic import exclusive_lock\n"
        f"with exclusive_lock({str(path)!r}, 'test'):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(120)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


@pytest.mark.parametrize("family", ["attention", "supervised", "sb3"])
def test_every_trainer_refuses_a_run_directory_another_process_trains(tmp_path, family):
    """Two trainings of one run directory would log every update twice; the second one stops
    before its first update, whoever started either (a script, a sweep's trial, a resume)."""
    from agents.runs.directory import RUN_LOCK
    from glimpse_env.atomic import LockedError

    run = tmp_path / "run"
    run.mkdir()
    holder = _hold_lock(run / RUN_LOCK)
    try:
        with pytest.raises(LockedError, match="another process is training in"):
            if family == "attention":
                from agents.training.config import TrainConfig
                from agents.training.trainer import Trainer

                config = TrainConfig(
                    env_id="MNIST-v0", updates=1, batch_size=4, hidden=8, glimpse_hidden=8,
                    location_hidden=8, num_threads=1,
                )  # fmt: skip
                Trainer(config, run, progress=False).train()
            elif family == "supervised":
                from agents.supervised.config import SupervisedConfig
                from agents.supervised.trainer import SupervisedTrainer

                config = SupervisedConfig(env_id="MNIST-v0", model="fc", updates=1, batch_size=4)
                SupervisedTrainer(config, run, progress=False).train()
            else:
                pytest.importorskip("sb3_contrib")
                from agents.sb3.baselines import train_baseline
                from agents.sb3.config import BaselineConfig

                train_baseline(BaselineConfig(env_id="MNIST-v0", timesteps=8), run, progress=False)
        assert not (run / "metrics.jsonl").exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_resume_killed_while_it_rewrites_the_log_loses_no_record(tmp_path, monkeypatch):
    """Resuming rewrites ``metrics.jsonl`` without the records after the checkpoint; a process
    killed during that rewrite left 0 bytes. The rewrite goes to a temporary file that replaces
    the log in one rename, so a write that dies half-way leaves the old log whole."""
    import agents.runs.log as log_module
    from agents.runs.log import METRICS_FILE, RunLog, read_metrics

    run = tmp_path / "run"
    first = RunLog(run, tensorboard=False)
    for update in range(1, 301):
        first.scalars(update, {"train/accuracy": update / 300})
    first.close()
    before = (run / METRICS_FILE).read_bytes()
    calls = {"n": 0}
    real_dumps = json.dumps

    def dies_half_way(record, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 100:
            raise KeyboardInterrupt  # the kill, in the middle of the rewrite
        return real_dumps(record, *args, **kwargs)

    monkeypatch.setattr(log_module.json, "dumps", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        RunLog(run, resume_update=250, tensorboard=False)
    monkeypatch.setattr(log_module.json, "dumps", real_dumps)
    assert (run / METRICS_FILE).read_bytes() == before
    assert len(read_metrics(run)) == 300 and not list(run.glob(".*.tmp"))
