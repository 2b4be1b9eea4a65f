"""Sweeps: the search-space syntax, and a tiny real sweep on a local Ray (2 trials, ASHA)."""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from agents.sweep.space import Dimension, build_space, load_space_file, parse_dimension
from agents.sweep.trial import TrialSpec

REPO = Path(__file__).resolve().parents[1]


def test_flags_parse_into_dimensions():
    assert parse_dimension("lr=loguniform(3e-4,3e-3)") == Dimension(
        "lr", "loguniform", (3e-4, 3e-3)
    )
    assert parse_dimension(" core = choice(lstm, rnn) ").args == ("lstm", "rnn")
    assert parse_dimension("num_glimpses=grid(6,8)").args == (6, 8)
    assert (
        parse_dimension("policy.lstm_hidden_size=choice(64,128)").name == "policy.lstm_hidden_size"
    )


@pytest.mark.parametrize(
    "text,match",
    [
        ("lr", "look like name=dist"),
        ("lr=normal(0,1)", "unknown distribution 'normal'"),
        ("lr=loguniform(0,1)", "loguniform needs low > 0"),
        ("lr=uniform(2,1)", "need low < high"),
        ("lr=uniform(1)", "takes two numbers"),
        ("lr=choice()", "needs at least one value"),
    ],
)
def test_bad_flags_name_the_problem(text, match):
    with pytest.raises(ValueError, match=match):
        parse_dimension(text)


def test_space_files_in_yaml_and_json(tmp_path):
    yaml_file = tmp_path / "space.yaml"
    yaml_file.write_text("lr: loguniform(1e-4, 1e-3)\nlocation_std: {uniform: [0.05, 0.3]}\n")
    assert load_space_file(yaml_file) == [
        Dimension("lr", "loguniform", (1e-4, 1e-3)),
        Dimension("location_std", "uniform", (0.05, 0.3)),
    ]
    json_file = tmp_path / "space.json"
    json_file.write_text(json.dumps({"lr": {"grid": [1e-3, 3e-3]}}))
    # A flag replaces the file's entry of the same name.
    space = build_space(["lr=choice(0.01)"], json_file)
    assert space == [Dimension("lr", "choice", (0.01,))]
    with pytest.raises(ValueError, match="nothing to sweep"):
        build_space([])
    (tmp_path / "bad.yaml").write_text("- not\n- a mapping\n")
    with pytest.raises(ValueError, match="expected a mapping"):
        load_space_file(tmp_path / "bad.yaml")


def test_unknown_fields_fail_before_any_trial(tmp_path):
    spec = TrialSpec("ram", "ram-quickstart", None, 10, 5, 10, str(tmp_path))
    with pytest.raises(ValueError, match="not fields of RAMConfig"):
        spec.check(["learning_rate"])
    sb3 = TrialSpec("recurrent-ppo", None, None, 10, 5, 10, str(tmp_path))
    with pytest.raises(ValueError, match="not SB3 settings"):
        sb3.check(["lr"])
    sb3.check(["learning_rate", "policy.lstm_hidden_size"])
    with pytest.raises(ValueError, match="would never report"):
        TrialSpec("ram", "ram-quickstart", None, 10, 20, 10, str(tmp_path))


def test_command_line_errors_are_one_line(tmp_path):
    from agents.sweep.cli import main

    base = ["--storage", str(tmp_path), "--space", "lr=loguniform(1e-4,1e-3)"]
    assert main(["--agent", "ram", "--preset", "ram-quickstart", *base]) == 2  # no --updates
    assert main(["--agent", "ram", "--preset", "ram-quickstart", "--updates", "4", "--space",
                 "lr=oops"]) == 2  # fmt: skip
    assert main(["--agent", "ppo", "--updates", "4", *base]) == 2  # SB3 takes --timesteps


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--space", "hidden=choice(-1,8)"], "the space gives hidden=-1, which fails"),
        (["--space", "lr=uniform(-1,1)"], "the space gives lr=-1"),
        (["--reduction-factor", "1"], "--reduction-factor must be > 1"),
        (["--cpus-per-trial", "0"], "--cpus-per-trial must be > 0"),
        (["--num-samples", "0"], "--num-samples must be a positive int"),
        (["--name", "../escaped-sweep"], "must be one directory name"),
        (["--name", "/tmp/absolute"], "must be one directory name"),
        (["--storage", "{file}"], "is a file, not a directory"),
        *(
            [(["--gpus-per-trial", "0.5"], "this machine has none usable by torch")]
            if not __import__("torch").cuda.is_available()
            else []
        ),
    ],
)
def test_sweep_flags_are_checked_before_ray_starts(flags, message, tmp_path, capsys):
    """Each of these would start Ray and then fail every trial, raise from Ray, or hang."""
    from agents.sweep.cli import main

    (tmp_path / "afile").write_text("x")
    flags = [f.format(file=tmp_path / "afile") for f in flags]
    base = ["--agent", "ram", "--preset", "ram-quickstart", "--updates", "4"]
    if "--space" not in flags:
        base += ["--space", "lr=loguniform(1e-4,1e-3)"]
    if "--storage" not in flags:
        base += ["--storage", str(tmp_path / "sweeps")]
    assert main([*base, *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert main(["--agent", "ppo", "--env-id", "Pong-v5", "--timesteps", "8",
                 "--space", "learning_rate=loguniform(1e-4,1e-3)"]) == 2  # fmt: skip
    assert "unknown env id 'Pong-v5'" in capsys.readouterr().err


def test_a_tiny_sweep_runs_and_asha_stops_the_trailing_trial(tmp_path):
    """Two trials in grid order on a local Ray with one CPU: the first learns (lr 3e-3), the
    second cannot (lr 1e-7) and trails it at the first rung, so ASHA stops it there."""
    ray = pytest.importorskip("ray", reason="the sweep extra (ray[tune]) is not installed")
    del ray
    command = [
        sys.executable, "train/sweep.py", "--agent", "ram", "--preset", "ram-quickstart",
        "--space", "lr=grid(3e-3,1e-7)", "--set", "env_id=MNIST-v0", "--set", "min_lr=1e-8",
        "--set", "hidden=32", "--set", "glimpse_hidden=16", "--set", "location_hidden=16",
        "--set", "batch_size=32", "--set", "num_glimpses=3", "--set", "lr_decay=1.0",
        "--updates", "60", "--eval-every", "20", "--eval-canvases", "200",
        "--num-samples", "1", "--max-concurrent", "1", "--num-cpus", "1", "--verbose", "0",
        "--storage", str(tmp_path), "--name", "tiny",
    ]  # fmt: skip
    env = {**os.environ, "GLIMPSE_ENV_SWEEP_MANIFESTS": str(tmp_path / "manifests")}
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert 'best: {"lr": 0.003}' in done.stdout
    root = tmp_path / "tiny"
    trials = {t["params"]["lr"]: t for t in json.loads((root / "trials.json").read_text())}
    learner, stuck = trials[3e-3], trials[1e-7]
    assert [r["progress"] for r in learner["reports"]] == [20, 40, 60]
    assert not learner["stopped_early"] and learner["valid_error"] < 80.0  # chance: 90%
    assert stuck["stopped_early"] and [r["progress"] for r in stuck["reports"]] == [20]
    assert json.loads((root / "best.json").read_text())["params"] == {"lr": 3e-3}
    # Each trial is an ordinary run directory: config, checkpoint, TensorBoard events.
    run = Path(learner["run_dir"])
    assert json.loads((run / "config.json").read_text())["lr"] == 3e-3
    assert (run / "checkpoint.pt").is_file() and list(run.glob("events.out.tfevents.*"))
    assert not (run / "final.json").exists()  # trials never evaluate on test
    assert (root / "sweep.png").stat().st_size > 0
    assert "stopped by ASHA" in (root / "trials.md").read_text()
    # The same --name again without --resume would overwrite the sweep's records: refused.
    again = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600,
                           env=env)  # fmt: skip
    assert again.returncode == 2 and "pass --resume to continue it" in again.stderr
    # --resume of what this machine wrote goes ahead (every trial is done: nothing to run) ...
    resumed = subprocess.run([*command, "--resume"], cwd=REPO, capture_output=True, text=True,
                             timeout=600, env=env)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # ... but a planted pickle in the sweep's Ray state is refused before Ray reads it.
    marker = tmp_path / "MARKER"
    (root / "ray" / "tuner.pkl").write_bytes(pickle.dumps(_Planted(marker)))
    refused = subprocess.run([*command, "--resume"], cwd=REPO, capture_output=True, text=True,
                             timeout=600, env=env)  # fmt: skip
    assert refused.returncode == 2 and not marker.exists()
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "refusing to resume" in lines[0] and "tuner.pkl changed" in lines[0]


class _Planted:
    """Unpickling this would create ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_table_redraws_a_finished_sweeps_table_and_plot_from_its_json(tmp_path):
    import shutil

    from agents.sweep.cli import main

    kept = REPO / "results" / "sweeps" / "recurrent-ppo-t60"
    copy = tmp_path / "recurrent-ppo-t60"
    shutil.copytree(kept, copy)
    (copy / "trials.md").unlink()
    (copy / "sweep.png").unlink()
    assert main(["--table", str(copy)]) == 0
    assert (copy / "trials.md").read_text() == (kept / "trials.md").read_text()
    assert (copy / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", ["ram_std_lr.yaml", "recurrent_ppo.yaml"])
def test_example_spaces_name_real_settings(name, tmp_path):
    space = load_space_file(REPO / "examples" / "sweeps" / name)
    agent = "ram" if name.startswith("ram") else "recurrent-ppo"
    preset = "ram-cluttered60-6g" if agent == "ram" else None
    TrialSpec(agent, preset, None, 100, 50, 10, str(tmp_path)).check([d.name for d in space])


def test_a_local_sweep_runs_its_trials_at_the_drivers_priority(monkeypatch):
    """Ray would run the trials 15 nice levels lower than the driver; locally we ask for none
    (on a cluster, its own setting stands). ``ray.init`` is replaced: no Ray starts."""
    ray = pytest.importorskip("ray", reason="the sweep extra (ray[tune]) is not installed")
    from agents.sweep import cli

    class Started(Exception):
        pass

    seen = []

    def init(**kwargs):
        seen.append(os.environ.get("RAY_worker_niceness"))
        raise Started

    monkeypatch.setattr(ray, "init", init)
    for name in ("RAY_worker_niceness", "RAY_DEDUP_LOGS"):
        monkeypatch.delenv(name, raising=False)
    local = argparse.Namespace(address=None, num_cpus=1, verbose=0)
    with pytest.raises(Started):
        cli.run_sweep(local, None, [], Path("unused"))
    monkeypatch.delenv("RAY_worker_niceness")
    with pytest.raises(Started):
        cli.run_sweep(argparse.Namespace(address="auto", verbose=0), None, [], Path("unused"))
    assert seen == ["0", None]


def test_trials_on_every_node_get_the_drivers_data_directory(monkeypatch, tmp_path):
    """Ray workers on other nodes do not inherit the driver's environment: the data location
    travels in the job's ``runtime_env``, locally and with ``--address``. ``ray.init`` is
    replaced: no Ray starts."""
    ray = pytest.importorskip("ray", reason="the sweep extra (ray[tune]) is not installed")
    from agents.sweep import cli

    class Started(Exception):
        pass

    seen = []

    def init(**kwargs):
        seen.append(kwargs.get("runtime_env"))
        raise Started

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setenv("GLIMPSE_ENV_DATA", str(tmp_path))
    for address in (None, "127.0.0.1:6379"):
        args = argparse.Namespace(address=address, num_cpus=1, verbose=0)
        with pytest.raises(Started):
            cli.run_sweep(args, None, [], Path("unused"))
    assert seen == [{"env_vars": {"GLIMPSE_ENV_DATA": str(tmp_path)}}] * 2


def test_a_sweep_whose_trials_all_fail_says_why_in_one_line(monkeypatch, tmp_path, capsys):
    from agents.sweep import cli

    failed = [
        {"trial_id": None, "params": {"lr": 1e-3}, "reports": [],
         "error": "Traceback ...\nFileNotFoundError: MNIST files not found in /nowhere",
         "log": str(tmp_path / "t0" / "error.txt")},
    ] * 2  # fmt: skip
    monkeypatch.setattr(cli, "run_sweep", lambda *args: failed)
    argv = ["--agent", "ram", "--preset", "ram-quickstart", "--updates", "4", "--space",
            "lr=loguniform(1e-4,1e-3)", "--storage", str(tmp_path / "s"),
            "--name", "f"]  # fmt: skip
    assert cli.main(argv) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "2 of 2 failed, the first with: FileNotFoundError: MNIST files not found" in line
    assert str(tmp_path / "t0" / "error.txt") in line
