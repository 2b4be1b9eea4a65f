"""The training machinery: learning on real data, checkpoints and resume, evaluation, the CLI."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
import torch

from agents.cli.attention import main
from agents.runs.checkpoint import load_checkpoint
from agents.runs.log import read_metrics
from agents.training.config import TrainConfig
from agents.training.presets import PRESETS, preset_config
from agents.training.trainer import Trainer, TrainingDiverged
from agents.zoo import evaluate_checkpoint
from glimpse_env.envs.vector import GlimpseVectorEnv

#: A small, fast configuration: centred 28x28 MNIST, 4 glimpses of one 8x8 patch.
TINY = dict(
    env_id="MNIST-v0",
    num_glimpses=4,
    glimpse_hidden=32,
    location_hidden=16,
    hidden=32,
    batch_size=32,
    lr=3e-3,
    log_every=1,
    eval_every=0,
    eval_canvases=200,
    final_eval_canvases=200,
    eval_batch_size=100,
    checkpoint_every=1000,
    num_threads=1,
)


def tiny(**overrides) -> TrainConfig:
    return TrainConfig(**{**TINY, **overrides})


def test_short_training_on_real_data_beats_chance_by_far(tmp_path):
    config = tiny(
        num_glimpses=4, glimpse_hidden=64, hidden=64, batch_size=64, updates=400, log_every=50
    )
    result = Trainer(config, tmp_path / "run", progress=False).train()
    assert result.greedy is not None and result.mc is not None
    # Chance is 90% error; 400 updates reach about 25%.
    assert result.greedy.error_pct < 50.0, result.greedy
    assert result.mc.error_pct < 50.0, result.mc
    curve = read_metrics(tmp_path / "run")
    train_acc = [r["train/accuracy"] for r in curve if "train/accuracy" in r]
    assert train_acc[-1] > train_acc[0] + 0.3
    final = json.loads((tmp_path / "run" / "final.json").read_text())
    assert final["test_errors_greedy"] == result.greedy.errors
    assert final["progress"] == 400 and final["progress_unit"] == "updates"


def _losses(run_dir) -> list[tuple[int, float, float, float]]:
    return [
        (r["update"], r["loss/classification"], r["loss/reinforce"], r["loss/baseline_mse"])
        for r in read_metrics(run_dir)
        if "loss/total" in r
    ]


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path):
    straight = Trainer(tiny(updates=12), tmp_path / "straight", progress=False)
    straight.train()
    first = Trainer(tiny(updates=6), tmp_path / "resumed", progress=False)
    first.train()
    resumed = Trainer.from_checkpoint(
        tmp_path / "resumed" / "checkpoint.pt", progress=False, updates=12
    )
    assert resumed.update == 6
    resumed.train()
    assert _losses(tmp_path / "resumed") == _losses(tmp_path / "straight")
    for a, b in zip(
        straight.model.state_dict().values(), resumed.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)


def test_resume_drops_records_written_after_the_checkpoint(tmp_path):
    trainer = Trainer(tiny(updates=8, checkpoint_every=4), tmp_path / "run", progress=False)
    trainer.train()
    # Pretend the process died at update 8 before its last checkpoint: rewind the file.
    payload = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert payload["update"] == 8
    resumed = Trainer(trainer.config, tmp_path / "run", progress=False)
    resumed.update = 0
    for _ in range(4):
        resumed.train_step()
    resumed.save_checkpoint()
    again = Trainer.from_checkpoint(tmp_path / "run" / "checkpoint.pt", progress=False)
    again.train()
    updates = [u for u, *_ in _losses(tmp_path / "run")]
    assert updates == list(range(1, 9))


def test_ctrl_c_saves_a_checkpoint_and_stops(tmp_path):
    trainer = Trainer(tiny(updates=50), tmp_path / "run", progress=False)
    step = trainer.train_step

    def step_then_interrupt():
        scalars = step()
        if trainer.update == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return scalars

    trainer.train_step = step_then_interrupt
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN when pytest runs as a background job
    result = trainer.train()
    assert result.interrupted and result.update == 3
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["update"] == 3
    assert signal.getsignal(signal.SIGINT) is before  # the trainer puts the old handler back


def test_nan_loss_stops_with_a_message_and_keeps_the_last_checkpoint(tmp_path):
    trainer = Trainer(tiny(updates=10), tmp_path / "run", progress=False)
    trainer.train_step()
    trainer.save_checkpoint()
    with torch.no_grad():
        trainer.model.classifier.weight.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match=r"loss is nan at update 1.*checkpoint\.pt"):
        trainer.train_step()
    payload = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert payload["update"] == 1
    assert bool(torch.isfinite(payload["model"]["classifier.weight"]).all())


def test_evaluation_is_deterministic_and_uses_the_same_canvases_for_every_run(tmp_path):
    a = Trainer(tiny(seed=1), tmp_path / "a", progress=False)
    b = Trainer(tiny(seed=2), tmp_path / "b", progress=False)
    for mode in ("greedy", "mc"):
        first, second = a.evaluate(mode, 150), a.evaluate(mode, 150)
        assert (first.errors, first.total) == (second.errors, second.total)
        assert np.array_equal(first.examples.locations, second.examples.locations)
    # Different seeds, different models, same test canvases.
    ea, eb = a.evaluate("greedy", 100), b.evaluate("greedy", 100)
    assert np.array_equal(ea.examples.canvases, eb.examples.canvases)
    assert np.array_equal(ea.examples.labels, eb.examples.labels)


def test_reset_to_addresses_canvases_by_stream_and_episode():
    env = GlimpseVectorEnv(3, output="torch", num_glimpses=2)
    env.reset(seed=7)
    key = int(env.episodes.keys[0])
    canvases = []
    for _ in range(3):
        canvases.append(env.canvases[0].clone())
        env.reset()
    env.reset_to(key, np.array([2, 0, 1]))
    assert torch.equal(env.canvases[0], canvases[2])
    assert torch.equal(env.canvases[1], canvases[0])
    assert torch.equal(env.canvases[2], canvases[1])
    with pytest.raises(ValueError, match="episodes must have shape"):
        env.reset_to(key, np.array([0, 1]))
    with pytest.raises(ValueError, match=">= 0"):
        env.reset_to(key, np.array([0, -1, 0]))


def test_checkpoint_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="corrupt, truncated"):
        load_checkpoint(corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": 1}, foreign)
    with pytest.raises(ValueError, match=r"not a glimpse-env checkpoint \(glimpse-env-agent-"):
        load_checkpoint(foreign)


def test_config_validation_and_presets():
    from agents.targets import TARGETS

    assert set(TARGETS) <= set(PRESETS), "every row of the results table has its preset"
    assert preset_config("ram-cluttered100-6g").task_kwargs()["num_glimpses"] == 6
    assert preset_config("ram-translated60-8g").task_kwargs()["num_glimpses"] == 8
    assert preset_config("ram-cluttered60-8g").task_kwargs()["num_glimpses"] == 8
    assert preset_config("ram-cluttered100-8g").task_kwargs()["canvas_size"] == 100
    with pytest.raises(ValueError, match="unknown preset 'ram-nope'"):
        preset_config("ram-nope")
    with pytest.raises(ValueError, match="unknown config fields"):
        TrainConfig.from_dict({"lerning_rate": 1})
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="unknown env id"):
        TrainConfig(env_id="CIFAR-v0")


def test_resume_refuses_changes_that_alter_the_run(tmp_path):
    trainer = Trainer(tiny(updates=1), tmp_path / "run", progress=False)
    trainer.save_checkpoint()
    with pytest.raises(ValueError, match="cannot change"):
        Trainer.from_checkpoint(tmp_path / "run" / "checkpoint.pt", lr=0.1)


def test_command_line_trains_resumes_and_evaluates(tmp_path, capsys):
    flags = ["--preset", "ram-mnist28-6g", "--logdir", str(tmp_path), "--no-progress"]
    small = ["--hidden", "32", "--glimpse-hidden", "16", "--location-hidden", "8"]
    small += ["--batch-size", "16", "--final-eval-canvases", "50", "--eval-batch-size", "50"]
    assert main("ram", "ram-cluttered60-6g", [*flags, *small, "--updates", "3"]) == 0
    (run_dir,) = tmp_path.iterdir()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["preset"] == "ram-mnist28-6g" and config["hidden"] == 32
    out = capsys.readouterr().out
    assert "greedy test error" in out and "mc test error" in out
    checkpoint = str(run_dir / "checkpoint.pt")
    assert main("ram", "ram-cluttered60-6g", ["--resume", str(run_dir), "--updates", "5"]) == 0
    assert load_checkpoint(checkpoint)["update"] == 5
    with pytest.warns(FutureWarning, match="--resume takes the run directory"):  # old spelling
        assert main("ram", "ram-cluttered60-6g", ["--resume", checkpoint, "--updates", "6"]) == 0
    assert load_checkpoint(checkpoint)["update"] == 6
    capsys.readouterr()
    assert main("ram", "ram-cluttered60-6g", ["--eval", checkpoint]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("greedy test error") and lines[0].endswith("/50)")
    assert lines[1].startswith("mc test error") and lines[1].endswith("/50)")
    # Every evaluation flag is honoured: other canvases, other count, other M.
    other = ["--eval-seed", "5", "--final-eval-canvases", "40", "--mc-samples", "2"]
    assert main("ram", "ram-cluttered60-6g", ["--eval", checkpoint, *other]) == 0
    out = capsys.readouterr().out
    greedy, mc = evaluate_checkpoint(checkpoint, num_canvases=40, eval_seed=5, mc_samples=2)
    assert out.splitlines() == [str(greedy), str(mc)]
    valid = evaluate_checkpoint(checkpoint, num_canvases=40, eval_seed=5, split="valid")[0]
    assert valid.split == "valid" and greedy.split == "test"
    assert main("ram", "ram-cluttered60-6g", ["--eval", str(tmp_path / "nope.pt")]) == 2
    assert "no model file" in capsys.readouterr().err
    # Flags that --eval / --resume cannot honour are errors that name them.
    assert main("ram", "ram-cluttered60-6g", ["--eval", checkpoint, "--hidden", "64"]) == 2
    assert "--hidden cannot be applied with --eval" in capsys.readouterr().err
    resume = ["--resume", str(run_dir), "--lr", "0.1", "--seed", "3", "--logdir", "x"]
    assert main("ram", "ram-cluttered60-6g", resume) == 2
    assert "--lr, --seed, --logdir cannot be applied with --resume" in capsys.readouterr().err
    assert load_checkpoint(checkpoint)["update"] == 6  # nothing ran
    assert main("ram", "ram-cluttered60-6g", ["--preset", "ram-nope"]) == 2
    assert "unknown preset" in capsys.readouterr().err


def test_evaluate_checkpoint_matches_the_trainer(tmp_path):
    trainer = Trainer(tiny(updates=2), tmp_path / "run", progress=False)
    trainer.train()
    greedy, mc = evaluate_checkpoint(tmp_path / "run" / "checkpoint.pt", num_canvases=200)
    assert greedy.errors == trainer.evaluate("greedy", 200, "test").errors
    assert mc.errors == trainer.evaluate("mc", 200, "test").errors
    final = json.loads((tmp_path / "run" / "final.json").read_text())
    assert final["test_errors_greedy"] == greedy.errors and final["test_errors_mc"] == mc.errors
    valid = evaluate_checkpoint(tmp_path / "run" / "checkpoint.pt", split="valid")
    assert final["valid_errors_greedy"] == valid[0].errors


def test_runs_started_in_the_same_second_get_their_own_directories(tmp_path):
    from agents.cli.attention import new_run_dir

    first, second = new_run_dir(tmp_path, "p"), new_run_dir(tmp_path, "p")
    assert first != second and first.is_dir() and second.is_dir()


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("max_grad_norm", -1.0, "max_grad_norm must be > 0"),
        ("hidden", 0, "hidden must be a positive int"),
        ("eval_every", -1, "eval_every must be an int >= 0"),
        ("reinforce_weight", -0.5, "reinforce_weight must be >= 0"),
        ("canvas_size", 60.5, "canvas_size must be a positive int"),
        ("num_distractors", -2, "num_distractors must be an int >= 0"),
    ],
)
def test_numeric_fields_are_range_checked_when_the_config_is_built(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})


def test_baseline_grid_needs_two_points():
    from agents.sb3.config import BaselineConfig

    with pytest.raises(ValueError, match="grid_size must be >= 2"):
        BaselineConfig(grid_size=1)


def test_kill_sigterm_saves_a_checkpoint_and_stops_like_ctrl_c(tmp_path):
    trainer = Trainer(tiny(updates=50), tmp_path / "run", progress=False)
    step = trainer.train_step

    def step_then_kill():
        scalars = step()
        if trainer.update == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return scalars

    trainer.train_step = step_then_kill
    handler = signal.getsignal(signal.SIGTERM)
    result = trainer.train()
    assert result.interrupted and result.update == 2
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["update"] == 2
    assert signal.getsignal(signal.SIGTERM) is handler  # restored


def test_interrupted_runs_exit_130_in_every_script(tmp_path, monkeypatch):
    import agents.cli.sb3 as sb3_cli
    from agents.evaluation import EvalResult
    from agents.runs.loop import TrainResult

    result = EvalResult("deterministic", 1, 10)
    monkeypatch.setattr(
        sb3_cli,
        "train_baseline",
        lambda *a, **k: TrainResult(tmp_path, 8, True, 1.0, None, [result]),
    )
    argv = ["--env-id", "MNIST-v0", "--timesteps", "8", "--logdir", str(tmp_path), "--no-progress"]
    assert sb3_cli.main(argv) == 130
    trainer_flags = ["--preset", "ram-mnist28-6g", "--updates", "50", "--hidden", "8"]
    trainer_flags += ["--glimpse-hidden", "8", "--location-hidden", "8", "--batch-size", "4"]
    original = Trainer.train_step

    def step_then_kill(self):
        scalars = original(self)
        if self.update == 1:
            os.kill(os.getpid(), signal.SIGTERM)
        return scalars

    monkeypatch.setattr(Trainer, "train_step", step_then_kill)
    assert main("ram", "ram-mnist28-6g", [*trainer_flags, "--logdir", str(tmp_path / "r")]) == 130


def test_mismatched_or_old_checkpoints_are_one_clear_error(tmp_path):
    trainer = Trainer(tiny(updates=1), tmp_path / "run", progress=False)
    path = trainer.save_checkpoint()
    payload = torch.load(path, weights_only=True)
    payload["config"]["hidden"] = 64  # the config no longer matches the weights
    torch.save(payload, tmp_path / "mismatch.pt")
    with pytest.raises(ValueError, match=r"mismatch.pt: checkpoint .* do not fit the model"):
        Trainer.from_checkpoint(tmp_path / "mismatch.pt")
    payload = torch.load(path, weights_only=True)
    del payload["train_keys"]
    torch.save(payload, tmp_path / "old.pt")
    with pytest.raises(ValueError, match=r"has no 'train_keys'.*older glimpse-env"):
        Trainer.from_checkpoint(tmp_path / "old.pt")


def test_a_failed_start_leaves_no_empty_run_directory(tmp_path, capsys):
    flags = ["--logdir", str(tmp_path), "--updates", "1", "--init-from", str(tmp_path / "nope.pt")]
    assert main("ram", "ram-mnist28-6g", flags) == 2
    assert "no model file" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_resuming_a_finished_run_does_not_duplicate_its_final_records(tmp_path):
    Trainer(tiny(updates=2), tmp_path / "run", progress=False).train()
    again = Trainer.from_checkpoint(tmp_path / "run" / "checkpoint.pt", progress=False)
    assert again.train().update == 2
    finals = [r for r in read_metrics(tmp_path / "run") if "test/error_mc" in r]
    assert len(finals) == 1
    assert [r["update"] for r in read_metrics(tmp_path / "run") if "loss/total" in r] == [1, 2]


def test_a_new_start_removes_temporaries_of_killed_writes(tmp_path):
    trainer = Trainer(tiny(updates=1), tmp_path / "run", progress=False)
    trainer.save_checkpoint()
    stale = tmp_path / "run" / ".checkpoint.pt.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    Trainer.from_checkpoint(tmp_path / "run" / "checkpoint.pt", progress=False).train()
    assert not stale.exists() and (tmp_path / "run" / "checkpoint.pt").is_file()


def test_a_full_disk_is_one_clear_error_and_the_last_checkpoint_survives(tmp_path, monkeypatch):
    import collections
    import shutil

    import agents.runs.checkpoint as checkpoint_module

    trainer = Trainer(tiny(updates=4, checkpoint_every=2), tmp_path / "run", progress=False)
    trainer.save_checkpoint()
    before = (tmp_path / "run" / "checkpoint.pt").read_bytes()

    def full_disk_save(obj, f):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(checkpoint_module.torch, "save", full_disk_save)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9, 0))
    with pytest.raises(OSError, match=r"no space left on device while writing .*checkpoint\.pt"):
        trainer.train()
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == before
    assert not list((tmp_path / "run").glob(".*.tmp"))


@pytest.mark.parametrize("updates, evaluated", [(1, [1]), (3, [2, 3])])
def test_the_last_update_is_evaluated_even_off_the_eval_grid(tmp_path, updates, evaluated):
    """``updates`` need not be a multiple of ``eval_every``: the last stretch is scored too, and
    a run shorter than ``eval_every`` still leaves a ``best.pt``."""
    config = tiny(updates=updates, eval_every=2)
    Trainer(config, tmp_path / "run", progress=False).train(final_evaluation=False)
    scored = [r["update"] for r in read_metrics(tmp_path / "run") if "valid/error_greedy" in r]
    assert scored == evaluated
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    assert best["update"] in evaluated


def test_every_config_flag_has_help_text_and_no_doubled_default():
    import dataclasses

    from agents.cli.attention import build_parser
    from agents.training.config import TrainConfig

    text = build_parser("ram", "ram-cluttered60-6g").format_help()
    assert "(default: None)" not in text and "``" not in text
    parser = build_parser("ram", "ram-cluttered60-6g")
    helps = {a.dest: a.help for a in parser._actions}
    missing = [
        f.name
        for f in dataclasses.fields(TrainConfig)
        if f.name != "preset" and not (helps.get(f.name) or "").removesuffix("(optional)").strip()
    ]
    assert not missing, f"config flags without help: {missing}"  # fmt: skip
    assert "Adam's initial learning rate" in helps["lr"]
    assert helps["num_glimpses"].startswith("observations per digit")  # the task's own entry


def test_ctrl_c_during_the_final_evaluation_says_how_to_score_the_weights(
    tmp_path, monkeypatch, capsys
):
    from agents.cli.attention import main
    from agents.training import trainer as trainer_module

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer_module.Trainer, "final_evaluation", interrupted)
    flags = ["--preset", "ram-mnist28-6g", "--logdir", str(tmp_path), "--no-progress",
             "--updates", "2", "--hidden", "8", "--glimpse-hidden", "8", "--location-hidden", "8",
             "--batch-size", "4", "--eval-every", "0"]  # fmt: skip
    assert main("ram", "ram-mnist28-6g", flags) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "interrupted during the final evaluation" in err[0], err
    checkpoint = err[0].rsplit("--eval ", 1)[1].split()[0]
    assert os.path.isfile(checkpoint)


def test_the_training_script_trains_on_a_folder_of_images(tmp_path, capsys):
    """``--image-folder DIR``: the folder becomes RUN/images.hdf5 with its classes, and RAM
    trains and is scored on it (3 classes, so the label action has 3 classes)."""
    from PIL import Image

    from agents.runs.final import read_final

    rng = np.random.default_rng(0)
    for side in (8, 14, 20):
        (tmp_path / "shapes" / f"s{side}").mkdir(parents=True)
        for i in range(10):
            image = np.zeros((24, 24), np.uint8)
            x, y = rng.integers(0, 24 - side + 1, 2)
            image[y : y + side, x : x + side] = 255
            Image.fromarray(image).save(tmp_path / "shapes" / f"s{side}" / f"{i}.png")
    flags = ["--image-folder", str(tmp_path / "shapes"), "--preset", "ram-mnist28-6g", "--logdir",
             str(tmp_path / "runs"), "--updates", "2", "--batch-size", "8", "--hidden", "16",
             "--glimpse-hidden", "8", "--location-hidden", "8", "--eval-canvases", "3",
             "--final-eval-canvases", "3", "--eval-batch-size", "3", "--mc-samples", "2",
             "--num-threads", "1", "--no-progress"]  # fmt: skip
    assert main("ram", "ram-cluttered60-6g", flags) == 0
    assert "30 images of 3 classes (s14, s20, s8)" in capsys.readouterr().out
    (run,) = (tmp_path / "runs").iterdir()
    config = json.loads((run / "config.json").read_text())
    assert config["classes"] == 3 and config["dataset_path"] == str(run / "images.hdf5")
    final = read_final(run)
    assert final.canvases == 3 and 0 <= final.test_errors_greedy <= 3
    resumed = ["--resume", str(run), "--image-folder", str(tmp_path / "shapes")]
    assert main("ram", "ram-cluttered60-6g", resumed) == 2
    assert "--image-folder starts a new run" in capsys.readouterr().err
    clash = [*flags, "--classes", "3"]
    assert main("ram", "ram-cluttered60-6g", clash) == 2
    assert "--image-folder sets --dataset-path and --classes itself" in capsys.readouterr().err
    # --channels 3 converts the grey folder to colour, and the model takes three planes.
    assert flags[4] == "--logdir"
    colour = [*flags[:5], str(tmp_path / "colour"), *flags[6:], "--channels", "3"]
    assert main("ram", "ram-cluttered60-6g", colour) == 0
    assert "30 images of 3 classes (s14, s20, s8), 3 channel(s)" in capsys.readouterr().out
    (run,) = (tmp_path / "colour").iterdir()
    assert json.loads((run / "config.json").read_text())["channels"] == 3


def test_a_folder_run_with_default_evaluation_sizes_follows_its_splits(tmp_path, capsys):
    """With the default --eval-canvases 2000 and --final-eval-canvases, a 30-image folder (3
    held out in valid, 3 in test) trains to the end and is scored on 3 canvases of each, and the
    run is named after the folder."""
    from PIL import Image

    from agents.runs.final import read_final

    rng = np.random.default_rng(1)
    for side in (8, 14, 20):
        (tmp_path / "my shapes" / f"s{side}").mkdir(parents=True)
        for i in range(10):
            image = np.zeros((24, 24, 3), np.uint8)
            x, y = rng.integers(0, 24 - side + 1, 2)
            image[y : y + side, x : x + side] = rng.integers(64, 256, 3)
            Image.fromarray(image).save(tmp_path / "my shapes" / f"s{side}" / f"{i}.png")
    flags = ["--image-folder", str(tmp_path / "my shapes"), "--logdir", str(tmp_path / "runs"),
             "--updates", "3", "--eval-every", "2", "--batch-size", "8", "--hidden", "16",
             "--glimpse-hidden", "8", "--location-hidden", "8", "--num-threads", "1",
             "--no-progress"]  # fmt: skip
    assert main("ram", "ram-cluttered60-6g", flags) == 0
    out = capsys.readouterr().out
    assert "--eval-canvases and --final-eval-canvases set to 3" in out
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("ram-images-my-shapes-")
    assert read_final(run).canvases == 3 and (run / "checkpoint.pt").is_file()


def test_a_dataset_too_small_for_the_evaluation_fails_before_the_first_update(tmp_path):
    from glimpse_env.data.sources import ImageSource

    images = np.random.default_rng(0).integers(0, 256, (40, 28, 28), dtype=np.uint8)
    source = ImageSource.from_arrays((images, np.arange(40) % 4))
    path = source.write_hdf5(tmp_path / "s.hdf5")
    config = tiny(env_id="ClutteredMNIST-v0", dataset_path=str(path), classes=4, updates=5,
                  eval_every=2, eval_canvases=500, final_eval_canvases=3)  # fmt: skip
    trainer = Trainer(config, tmp_path / "run", progress=False)
    with pytest.raises(
        ValueError, match=r"--eval-canvases 500: the .valid. split has \d+ distinct canvases"
    ):
        trainer.train()
    assert trainer.update == 0


def test_a_short_run_gets_a_short_final_evaluation(tmp_path, capsys):
    from agents.cli.attention import SHORT_RUN_FINAL_CANVASES

    flags = ["--preset", "ram-mnist28-6g", "--updates", "1", "--batch-size", "4", "--hidden",
             "8", "--glimpse-hidden", "8", "--location-hidden", "8", "--eval-batch-size", "500",
             "--logdir", str(tmp_path), "--num-threads", "1", "--no-progress"]  # fmt: skip
    assert main("ram", "ram-cluttered60-6g", flags) == 0
    out = capsys.readouterr().out
    assert f"on {SHORT_RUN_FINAL_CANVASES:,} valid and as many test canvases" in out
    (run,) = tmp_path.iterdir()
    assert json.loads((run / "final.json").read_text())["canvases"] == SHORT_RUN_FINAL_CANVASES
