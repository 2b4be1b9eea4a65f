"""SB3 baselines: a short RecurrentPPO / PPO run, evaluation on real test episodes, reload."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from agents.runs.final import read_final
from agents.sb3.algorithms import make_vec_env
from agents.sb3.baselines import train_baseline
from agents.sb3.config import BaselineConfig
from agents.sb3.evaluation import evaluate_baseline, trajectory_image
from agents.sb3.files import STATE_ENTRY, load_model
from glimpse_env.envs.wrappers import grid_indices, grid_locations


def _config(algo: str) -> BaselineConfig:
    hyper = dict(n_steps=6, batch_size=48, n_epochs=1)
    hyper["policy_kwargs"] = (
        dict(lstm_hidden_size=16, net_arch=[16]) if algo == "recurrent-ppo" else dict(net_arch=[16])
    )
    return BaselineConfig(
        algo=algo, env_id="MNIST-v0", num_envs=8, timesteps=96, eval_canvases=60,
        eval_batch_size=30, eval_every=10**9, checkpoint_every=48, hyper=hyper,
    )  # fmt: skip


@pytest.mark.parametrize("algo", ["recurrent-ppo", "ppo"])
def test_short_run_trains_saves_and_scores_real_test_episodes(tmp_path, algo):
    config = _config(algo)
    both = train_baseline(config, tmp_path / "run", progress=False)
    result, valid = both.greedy, both.score("valid")
    assert (result.split, result.total, valid.split) == ("test", 60, "valid")
    final = read_final(tmp_path / "run")
    assert final.family == "sb3" and final.progress_unit == "env_steps"
    assert final.progress >= 96 and final.test_errors_greedy == result.errors
    assert final.valid_errors_greedy == valid.errors and final.test_error_mc is None
    assert (tmp_path / "run" / "best.zip").is_file()
    model = load_model(tmp_path / "run" / "model.zip", config)
    again = evaluate_baseline(model, config, 60)
    assert again.errors == result.errors  # deterministic policy, fixed test canvases
    # The error count is the number of first-batch answers that differ from the labels.
    first = evaluate_baseline(model, config, 30)
    assert first.errors == int((first.examples.predictions != first.examples.labels).sum())
    paths = result.examples.locations  # first batch: (30 canvases, 6 glimpses, (x, y))
    assert paths.shape == (30, 6, 2) and result.examples.canvases.shape == (30, 28, 28)
    moves = paths[:, 1:]  # every glimpse after the first is a grid point the policy chose
    np.testing.assert_allclose(grid_locations(grid_indices(moves, 9), 9), moves, atol=1e-6)
    assert trajectory_image(result, config, count=4).shape[-1] == 3
    assert (tmp_path / "run" / "trajectories.png").read_bytes()[:4] == b"\x89PNG"


def test_ppo_sees_the_last_glimpses_stacked():
    config = _config("ppo")
    venv, _ = make_vec_env(config, 4, "train")
    space = venv.observation_space
    assert space["glimpse"].shape == (config.frame_stack * 1, 8, 8)  # MNIST-v0: one 8x8 scale
    assert space["location"].shape == (2 * config.frame_stack,)
    assert space["step"].shape == (config.frame_stack,)  # the step index, stacked too


def test_bad_configuration_is_rejected():
    with pytest.raises(ValueError, match="algo must be one of"):
        BaselineConfig(algo="dqn")
    with pytest.raises(ValueError, match="unknown env id"):
        BaselineConfig(env_id="Pong-v5")
    for budget in (0, -5):
        with pytest.raises(ValueError, match="timesteps must be a positive int"):
            BaselineConfig(timesteps=budget)
    with pytest.raises(FileNotFoundError, match="no saved model"):
        load_model("/nonexistent/model.zip", BaselineConfig())


def test_compare_agents_tabulates_attention_and_sb3_runs(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from agents.cli.attention import main

    repo = Path(__file__).resolve().parents[1]
    flags = ["--env-id", "MNIST-v0", "--hidden", "16", "--glimpse-hidden", "8"]
    flags += ["--location-hidden", "8", "--updates", "2", "--batch-size", "8", "--eval-every", "1"]
    flags += ["--eval-canvases", "20", "--final-eval-canvases", "30", "--eval-batch-size", "30"]
    flags += ["--no-progress", "--logdir", str(tmp_path / "runs")]
    assert main("ram", "ram-mnist28-6g", flags) == 0
    (ram_dir,) = (tmp_path / "runs").iterdir()
    config = _config("recurrent-ppo")
    config.eval_every = 48
    train_baseline(config, tmp_path / "sb3", progress=False)
    results = tmp_path / "results"
    results.mkdir()
    (results / "runs_comparison_notes.md").write_text("## Notes (hand-written)\n")
    script = ["benchmarks/compare_agents.py", str(ram_dir), str(tmp_path / "sb3")]
    subprocess.run(
        [sys.executable, *script, "--results", str(results)],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    )
    rows = {
        r["agent"].split(" [")[0]: r
        for r in json.loads((results / "runs_comparison.json").read_text())
    }
    assert set(rows) == {"RAM", "RecurrentPPO"}
    assert "[n_steps=6, batch_size=48" in rows["RecurrentPPO"]["agent"]  # not the preset
    assert rows["RAM"]["env_steps"] == 2 * 8 * 6  # updates x batch x glimpses of MNIST-v0
    assert len(rows["RAM"]["curve"]) == 2 and rows["RAM"]["test_canvases"] == 30
    sb3_final = read_final(tmp_path / "sb3")
    assert rows["RecurrentPPO"]["env_steps"] == sb3_final.env_steps == sb3_final.progress
    assert rows["RecurrentPPO"]["test_error"] == sb3_final.test_error_greedy
    assert len(rows["RecurrentPPO"]["curve"]) >= 1
    table = (results / "runs_comparison.md").read_text()
    assert "## MNIST-v0" in table and "RecurrentPPO" in table
    assert table.rstrip().endswith("## Notes (hand-written)")
    assert (results / "runs_comparison.png").stat().st_size > 0


def test_hyper_overrides_reach_policy_kwargs_without_touching_the_preset():
    from agents.sb3.config import apply_hyper_overrides

    preset = {"learning_rate": 3e-4, "policy_kwargs": {"net_arch": [256]}}
    merged = apply_hyper_overrides(preset, {"learning_rate": 1e-3, "policy.net_arch": [16]})
    assert merged == {"learning_rate": 1e-3, "policy_kwargs": {"net_arch": [16]}}
    assert preset["policy_kwargs"] == {"net_arch": [256]}
    with pytest.raises(ValueError, match="nope"):
        apply_hyper_overrides(preset, {"nope": 1})


def test_a_task_with_tuned_settings_starts_from_them_and_the_command_line_overrides_them(
    monkeypatch,
):
    import copy

    from agents.cli import sb3 as cli
    from agents.sb3.config import HYPER, TASK_HYPER, preset_hyper

    before = copy.deepcopy(HYPER)
    tuned = TASK_HYPER[("recurrent-ppo", "TranslatedMNIST-v0")]
    translated = preset_hyper("recurrent-ppo", "TranslatedMNIST-v0")
    assert {k: translated[k] for k in tuned} == tuned
    assert translated["policy_kwargs"] == HYPER["recurrent-ppo"]["policy_kwargs"]
    cluttered = preset_hyper("recurrent-ppo", "ClutteredMNIST-v0")  # the same values, checked
    assert {k: cluttered[k] for k in tuned} == tuned
    assert preset_hyper("recurrent-ppo", "ClutteredMNIST100-v0") == HYPER["recurrent-ppo"]
    assert preset_hyper("ppo", "TranslatedMNIST-v0") == HYPER["ppo"]  # no PPO entry
    assert HYPER == before
    with pytest.raises(ValueError, match="algo must be one of"):
        preset_hyper("a2c", "TranslatedMNIST-v0")

    seen = {}

    def record(args, argv, defaults):  # stands in for training: what the run would be built from
        seen["hyper"] = cli.hyper_overrides(args, "recurrent-ppo", args.env_id)
        return 0

    monkeypatch.setattr(cli, "_run", record)
    flags = ["--env-id", "TranslatedMNIST-v0", "--n-steps", "18", "--ent-coef", "0.01"]
    assert cli.main(flags) == 0
    assert seen["hyper"]["n_steps"] == 18 and seen["hyper"]["ent_coef"] == 0.01
    assert seen["hyper"]["learning_rate"] == tuned["learning_rate"]
    assert seen["hyper"]["gae_lambda"] == tuned["gae_lambda"]


def test_glimpse_features_see_stacked_and_single_observations():
    import torch
    from gymnasium import spaces

    from agents.sb3.features import GlimpseFeatures, resolve_policy_kwargs

    for stack in (1, 6):
        space = spaces.Dict(
            glimpse=spaces.Box(0, 1, (3 * stack, 12, 12)),
            location=spaces.Box(-1, 1, (2 * stack,)),
        )
        extractor = GlimpseFeatures(space, features_dim=32)
        observation = {
            key: torch.as_tensor(space[key].sample())[None] for key in ("glimpse", "location")
        }
        features = extractor(observation)
        assert features.shape == (1, 32) and (features >= 0).all()  # ReLU output
    resolved = resolve_policy_kwargs({"features_extractor_class": "glimpse", "net_arch": []})
    assert resolved["features_extractor_class"] is GlimpseFeatures
    with pytest.raises(ValueError, match="unknown features_extractor_class 'cnn'"):
        resolve_policy_kwargs({"features_extractor_class": "cnn"})
    with pytest.raises(ValueError, match="needs a 'location' observation"):
        GlimpseFeatures(spaces.Dict(glimpse=spaces.Box(0, 1, (3, 12, 12))))


def test_the_comparison_curve_reads_the_logged_clock_with_the_lineage_offset(tmp_path):
    """The wall-clock curves of ``benchmarks/compare_agents.py`` (``valid_curve``)."""
    import json

    from agents.runs.log import EVAL_KEY, METRICS_FILE, valid_curve

    records = [
        {"update": 100, "train/accuracy": 0.5},
        {"update": 100, EVAL_KEY: 40.0, "time/wall_clock_s": 3.04},
        {"update": 200, EVAL_KEY: 20.0, "time/wall_clock_s": 7.0},
    ]
    (tmp_path / METRICS_FILE).write_text("".join(json.dumps(r) + "\n" for r in records))
    assert valid_curve(tmp_path) == [[100, 3.0, 40.0], [200, 7.0, 20.0]]
    assert valid_curve(tmp_path, up_to=150, offset=(1000, 60.0)) == [[1100, 63.0, 40.0]]


def test_resume_continues_the_checkpoint_to_the_requested_steps(tmp_path):
    config = _config("recurrent-ppo")
    run = tmp_path / "run"
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train_baseline(config, run, progress=False, resume=True)
    train_baseline(config, run, progress=False)
    first = read_final(run)
    config.timesteps = 2 * first.progress
    train_baseline(config, run, progress=False, resume=True)
    final = read_final(run)
    checkpoint = json.loads((run / "checkpoint.json").read_text())
    assert final.progress >= config.timesteps and checkpoint["timesteps"] == final.progress
    assert final.wall_clock_s > first.extra["train_seconds"]  # the clock went on
    assert not final.interrupted


def test_agent_throughput_measures_every_agent_on_the_same_task(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    out = tmp_path / "throughput.json"
    command = [sys.executable, "benchmarks/agent_throughput.py", "--env", "TranslatedMNIST-v0"]
    command += ["--seconds", "0.05", "--json", str(out)]
    done = subprocess.run(command, cwd=repo, capture_output=True, text=True, check=True)
    (record,) = json.loads(out.read_text())
    assert record["env_id"] == "TranslatedMNIST-v0" and record["ratio_to_ram"]["RAM"] == 1.0
    assert set(record["env_steps_per_s"]) == {"RAM", "recurrent-ppo", "ppo"}
    assert all(rate > 0 for rate in record["env_steps_per_s"].values())
    assert "x RAM" in done.stdout


def test_ppo_baseline_command_line_trains_evaluates_and_resumes(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]

    def cli(*flags: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "train/ppo_baseline.py", "--no-progress", *flags]
        return subprocess.run(command, cwd=repo, capture_output=True, text=True)

    small = ["--eval-canvases", "40", "--num-envs", "8"]
    first = ["--algo", "ppo", "--env-id", "MNIST-v0", "--timesteps", "288", "--eval-every", "288"]
    done = cli(*first, *small, "--learning-rate", "1e-3", "--logdir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "test accuracy" in done.stdout
    (run,) = tmp_path.iterdir()
    assert json.loads((run / "config.json").read_text())["hyper"]["learning_rate"] == 1e-3
    assert (run / "trajectories.png").is_file() and (run / "checkpoint.json").is_file()

    png = tmp_path / "paths.png"
    done = cli(
        "--eval", str(run / "model.zip"), "--eval-canvases", "40", "--trajectories", str(png)
    )
    assert done.returncode == 0 and "test accuracy" in done.stdout and png.is_file()

    done = cli("--resume", str(run), "--timesteps", "576")
    assert done.returncode == 0, done.stderr
    assert read_final(run).progress >= 576
    assert len((run / "command.txt").read_text().splitlines()) == 2  # the start and the resume

    missing = cli("--eval", str(tmp_path / "nowhere" / "model.zip"))
    assert missing.returncode == 2 and "config.json (the run's config) is missing" in missing.stderr


def test_compare_agents_names_runs_made_with_other_settings_than_the_preset(monkeypatch):
    from pathlib import Path

    from agents.sb3.config import HYPER, preset_hyper

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from compare_agents import _preset_difference

    current = {"algo": "ppo", "hyper": dict(HYPER["ppo"])}
    assert _preset_difference(current) == ""
    older = {"algo": "ppo", "hyper": {**HYPER["ppo"], "ent_coef": 0.123}}
    assert _preset_difference(older) == " [ent_coef=0.123]"
    # a task with its own tuned settings is compared with those, not with HYPER
    translated = {"algo": "recurrent-ppo", "env_id": "TranslatedMNIST-v0"}
    tuned = preset_hyper("recurrent-ppo", "TranslatedMNIST-v0")
    assert _preset_difference({**translated, "hyper": tuned}) == ""
    untuned = {**translated, "hyper": dict(HYPER["recurrent-ppo"])}
    assert "learning_rate=0.0003" in _preset_difference(untuned)


def test_card_scores_a_checkpoint_and_records_its_budget(tmp_path):
    from agents.cli.sb3 import main
    from agents.sb3.card import build_card, write_card

    config = _config("recurrent-ppo")
    run = tmp_path / "run"
    train_baseline(config, run, progress=False)
    checkpoint = json.loads((run / "checkpoint.json").read_text())
    card = build_card(run / "model.zip", "rppo-mnist", 60, budget="96 env steps, stated")
    model = load_model(run / "model.zip", config)
    assert card["kind"] == "sb3" and card["agent"] == "recurrent-ppo"
    assert card["test"]["greedy"]["errors"] == evaluate_baseline(model, config, 60).errors
    assert card["valid"]["greedy"]["errors"] == evaluate_baseline(model, config, 60, "valid").errors
    assert card["env_steps"] == checkpoint["timesteps"] and card["samples"] == 96 // 6
    assert card["weights_sha256"] == checkpoint["policy_sha256"]
    assert card["parameters"] == sum(p.numel() for p in model.policy.parameters())
    assert card["pixels_read"] == 6 * 1 * 8 * 8  # MNIST-v0: 6 glimpses of one 8x8 scale
    assert card["multiply_adds"] > 6 * 4 * 16 * 16  # at least the LSTM's six steps
    assert card["budget"] == "96 env steps, stated"
    written = write_card(card, tmp_path / "cards")
    assert json.loads(written.read_text())["test"] == card["test"]

    with pytest.raises(FileNotFoundError, match=r"no SB3 model file at .*nope\.zip"):
        build_card(run / "nope.zip", "rppo-mnist", 60)
    with pytest.raises(ValueError, match=r"config\.json is not an SB3 model"):
        build_card(run / "config.json", "rppo-mnist", 60)
    # The checkpoint is the zip alone: its state is inside it, checkpoint.json is a copy ...
    (run / "checkpoint.json").unlink()
    assert build_card(run / "model.zip", "rppo-mnist", 60)["env_steps"] == checkpoint["timesteps"]
    # ... and a zip saved before the state was embedded needs its checkpoint.json.
    with zipfile.ZipFile(run / "model.zip") as archive:
        entries = {n: archive.read(n) for n in archive.namelist() if n != STATE_ENTRY}
    with zipfile.ZipFile(run / "model.zip", "w") as archive:
        for entry, data in entries.items():
            archive.writestr(entry, data)
    with pytest.raises(FileNotFoundError, match=r"checkpoint\.json is missing"):
        build_card(run / "model.zip", "rppo-mnist", 60)
    assert main(["--card", str(run / "model.zip")]) == 2  # one line, no traceback
    assert main(["--card", str(run / "model.zip"), "--eval", str(run / "model.zip")]) == 2


def test_wall_clock_budget_stops_the_run_and_a_resume_can_lift_it(tmp_path):
    config = _config("recurrent-ppo")
    config.timesteps, config.wall_clock_budget_s = 10**6, 1e-3  # spent after the first step
    run = tmp_path / "run"
    train_baseline(config, run, progress=False)
    final = read_final(run)
    assert final.extra["stopped_by_wall_clock_budget"] and not final.interrupted
    assert final.progress < 10**6
    stopped_at = final.progress

    config.timesteps, config.wall_clock_budget_s = stopped_at + 96, 0.0
    train_baseline(config, run, progress=False, resume=True)
    final = read_final(run)
    assert final.progress >= stopped_at + 96 and not final.extra["stopped_by_wall_clock_budget"]
    saved = json.loads((run / "config.json").read_text())
    assert saved["wall_clock_budget_s"] == 0.0 and saved["timesteps"] == stopped_at + 96
    with pytest.raises(ValueError, match="wall_clock_budget_s must be >= 0"):
        BaselineConfig(wall_clock_budget_s=-1.0)


def test_sigint_stops_training_early_even_when_the_job_inherited_it_ignored(tmp_path):
    """The first SIGINT ends ``learn`` after the current step; the run is checkpointed and
    scored as interrupted, and the signal's old handling (ignored, as for ``python ... &`` from
    a script) is put back."""
    import os
    import signal

    config = _config("recurrent-ppo")
    config.timesteps, config.eval_every = 10**6, 48

    def interrupt(steps: int, error: float) -> None:  # the signal arrives mid-run
        os.kill(os.getpid(), signal.SIGINT)

    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        outcome = train_baseline(config, tmp_path / "run", progress=False, on_evaluation=interrupt)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # put back
    finally:
        signal.signal(signal.SIGINT, before)
    final = read_final(tmp_path / "run")
    assert outcome.interrupted and final.interrupted and final.progress < 10**6


def test_a_checkpoint_is_one_file_and_a_failed_save_leaves_the_previous_one(tmp_path, monkeypatch):
    """model.zip carries its own state, so a crash before checkpoint.json is rewritten still
    resumes; a save that fails (a full disk) is one clear OSError and leaves no temporary."""
    import errno

    from agents.sb3 import baselines

    config = _config("recurrent-ppo")
    run = tmp_path / "run"
    train_baseline(config, run, progress=False)
    (run / "checkpoint.json").write_text('["a list"]')  # stale or damaged copy: not read
    assert baselines.read_checkpoint_state(run / "model.zip")["timesteps"] == 96
    before = (run / "model.zip").read_bytes()
    model = load_model(run / "model.zip", config)

    def full_disk(self, path, *args, **kwargs):
        Path(path).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(type(model), "save", full_disk)
    with pytest.raises(OSError, match=r"no space left on device while writing .*model\.zip"):
        baselines.save_checkpoint(model, run, 1.0)
    assert (run / "model.zip").read_bytes() == before
    hidden = sorted(p.name for p in run.iterdir() if p.name.startswith("."))
    assert hidden == [".lock"]  # the run's lock, and no temporary


@pytest.mark.parametrize("algo", ["recurrent-ppo", "ppo"])
def test_agents_load_gives_an_sb3_run_predict_that_plays_its_evaluation_exactly(algo, tmp_path):
    """The one loader on an SB3 run: predict on the env's own observations (frame stack and
    grid actions handled inside) scores what the baseline's evaluation scores."""
    import agents
    from agents.policy import evaluate_policy

    config = _config(algo)
    train_baseline(config, tmp_path / "run", progress=False)
    policy = agents.load(tmp_path / "run")
    played = evaluate_policy(policy, config.env_id, "test", 50, batch_size=20)
    assert played.errors == policy.evaluate("test", 50).errors
    assert agents.load(tmp_path / "run" / "model.zip").config.algo == algo
    obs, _ = gym.make(config.env_id, split="test").reset(options={"evaluation_canvas": 0})
    action, _ = policy.predict(obs)
    assert action["location"].shape == (2,) and isinstance(action["label"], int)
    with pytest.raises(FileNotFoundError, match=r"without a model\.zip"):
        agents.load(tmp_path)
