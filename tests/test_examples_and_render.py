"""The examples run as documented; the render helpers produce what they promise."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from glimpse_env import ENV_IDS
from glimpse_env.render import (
    draw_trajectory,
    image_grid,
    save_gif,
    trajectory_frames,
    window_corners,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("env_id", sorted(ENV_IDS))
def test_random_agent_example_runs_on_every_task(env_id):
    out = subprocess.run(
        [sys.executable, "examples/random_agent.py", "--env", env_id, "--episodes", "3",
         "--num-envs", "512"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "single env: 3 episodes" in out.stdout
    assert "vector env: 512 episodes in one batch" in out.stdout
    accuracy = float(out.stdout.split("accuracy ")[-1].split()[0])
    chance = 1 / (19 if env_id == "MNISTAddition-v0" else 10)
    assert abs(accuracy - chance) < 5 * (chance * (1 - chance) / 512) ** 0.5, out.stdout


def test_render_glimpses_example_writes_a_gif_with_squares(tmp_path):
    gif = tmp_path / "glimpses.gif"
    subprocess.run(
        [sys.executable, "examples/render_glimpses.py", "--out", str(gif), "--episodes", "2"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    image = Image.open(gif)
    assert image.n_frames >= 6
    frame = np.asarray(image.convert("RGB"))
    red = (frame[..., 0] > 200) & (frame[..., 1] < 100) & (frame[..., 2] < 100)
    assert red.sum() > 50  # the innermost glimpse square
    assert (tmp_path / "glimpses.png").is_file()


def test_trajectory_frames_grid_and_gif_round_trip(tmp_path):
    canvas = np.zeros((60, 60), np.uint8)
    canvas[20:40, 20:40] = 255
    locations = np.array([[0, 0], [0.5, 0.5], [-0.5, 0.2]], np.float32)
    glimpses = np.random.default_rng(0).random((3, 3, 12, 12)).astype(np.float32)
    frames = trajectory_frames(canvas, locations, glimpses, 12, 3, 2, caption="label 1")
    assert len(frames) == 3 and frames[0].shape[0] == 300 and frames[0].shape[1] > 300
    assert not np.array_equal(frames[0], frames[2])
    grid = image_grid(frames, columns=2)
    assert grid.shape == (2 * (300 + 4) + 4, 2 * (frames[0].shape[1] + 4) + 4, 3)
    path = save_gif(frames, tmp_path / "sub" / "t.gif", fps=4)
    assert Image.open(path).n_frames == 3
    assert not [p for p in path.parent.iterdir() if p.name != "t.gif"]  # no temp file left


def test_drawing_without_locations_is_just_the_canvas():
    canvas = np.full((28, 28), 7, np.uint8)
    frame = draw_trajectory(canvas, np.zeros((0, 2)), 8, 1, scale=2)
    assert frame.shape == (56, 56, 3) and (frame == 7).all()
    with pytest.raises(ValueError, match="at least one"):
        save_gif([], "never.gif")


def _render_agent(checkpoint: Path, gif: Path) -> int:
    """Run examples/render_agent.py on ``checkpoint`` for 4 episodes; the GIF's frame count."""
    subprocess.run(
        [sys.executable, str(REPO / "examples" / "render_agent.py"), str(checkpoint),
         "--out", str(gif), "--episodes", "4"],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert gif.with_suffix(".png").is_file()
    with Image.open(gif) as image:
        return image.n_frames


def test_render_agent_example_draws_a_trained_checkpoint(tmp_path):
    from agents.training.config import TrainConfig
    from agents.training.trainer import Trainer

    config = TrainConfig(env_id="MNIST-v0", hidden=16, glimpse_hidden=8, location_hidden=8,
                         batch_size=8, updates=2, final_eval_canvases=10, eval_batch_size=10,
                         num_threads=1)  # fmt: skip
    Trainer(config, tmp_path / "run", progress=False).train()
    assert _render_agent(tmp_path / "run" / "checkpoint.pt", tmp_path / "agent.gif") == 6
    # --out x.png would write the GIF and then the picture over it: refused up front
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / "render_agent.py"),
         str(tmp_path / "run" / "checkpoint.pt"), "--out", str(tmp_path / "x.png")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1 and "--out must be a .gif" in done.stderr
    assert not (tmp_path / "x.png").exists()


def test_render_agent_draws_dram_reading_a_pair(tmp_path):
    from agents.training.presets import preset_config
    from agents.training.trainer import Trainer

    config = preset_config(
        "dram-pairs", hidden=16, glimpse_hidden=8, location_hidden=8, dram_channels=2,
        num_glimpses=2, batch_size=4, updates=1, final_eval_canvases=4, eval_batch_size=4,
        mc_samples=2, eval_every=0, num_threads=1,
    )  # fmt: skip
    Trainer(config, tmp_path / "run", progress=False).train()
    # 2 digits x 2 glimpses, the first chosen from the context: 4 frames.
    assert _render_agent(tmp_path / "run" / "checkpoint.pt", tmp_path / "pairs.gif") == 4


def test_window_corners_follow_the_affine_map():
    # A window of half the canvas, rotated by 90 degrees, centred right of the middle.
    theta = np.array([0.0, -0.5, 0.2, 0.5, 0.0, 0.0])
    corners = window_corners(theta, 100, 100)
    # (u, v) = (-1, -1) -> x = 0.5 + 0.2, y = -0.5 -> pixels (85, 25); and so on clockwise.
    np.testing.assert_allclose(corners, [[85, 25], [85, 75], [35, 75], [35, 25]])


def test_edram_windows_are_drawn_as_quadrilaterals_not_squares():
    canvas = np.zeros((50, 50), np.uint8)
    centres = np.array([[0.0, 0.0], [0.2, -0.1]], np.float32)
    rotated = np.array([[0.5, 0, 0, 0, 0.5, 0], [0.3, -0.3, 0.2, 0.3, 0.3, -0.1]], np.float32)
    frame = draw_trajectory(canvas, centres, 12, 1, scale=4, windows=rotated)
    red = (frame[..., 0] > 200) & (frame[..., 1] < 100) & (frame[..., 2] < 100)
    ys, xs = np.nonzero(red)
    # The last window is a square turned by 45 degrees: its red outline spans the diamond's
    # full width and height, and its top vertex sits at the centre column, not in a corner.
    corners = window_corners(rotated[1], 50, 50) * 4
    assert abs(xs.min() - corners[:, 0].min()) <= 3 and abs(xs.max() - corners[:, 0].max()) <= 3
    top = ys.min()
    assert abs(xs[ys == top].mean() - corners[np.argmin(corners[:, 1]), 0]) <= 3
    square = draw_trajectory(canvas, centres, 12, 1, scale=4)
    assert not np.array_equal(frame, square)


def test_render_agent_draws_edram_windows(tmp_path):
    from agents.training.config import TrainConfig
    from agents.training.trainer import Trainer

    config = TrainConfig(agent="edram", env_id="MNIST-v0", num_glimpses=3, window_size=14,
                         conv_channels=2, features=8, hidden=16, classifier_hidden=8,
                         batch_size=8, updates=2, final_eval_canvases=8, eval_batch_size=8,
                         eval_canvases=8, num_threads=1)  # fmt: skip
    trainer = Trainer(config, tmp_path / "run", progress=False)
    trainer.train()
    # Evaluation keeps EDRAM's windows (what render_agent draws), one per glimpse.
    examples = trainer.evaluate("greedy", 8).examples
    assert examples is not None and examples.windows is not None
    assert examples.windows.shape == (8, 3, 6)
    np.testing.assert_allclose(examples.windows[..., [2, 5]], examples.locations)
    assert _render_agent(tmp_path / "run" / "checkpoint.pt", tmp_path / "edram.gif") == 3


def test_collect_results_writes_one_table_per_family(tmp_path):
    from agents.cli.attention import main

    small = ["--hidden", "16", "--glimpse-hidden", "8", "--location-hidden", "8", "--updates", "2"]
    small += ["--batch-size", "8", "--final-eval-canvases", "20", "--eval-batch-size", "20"]
    small += ["--no-progress", "--logdir", str(tmp_path / "runs")]
    assert main("ram", "ram-mnist28-6g", small) == 0
    assert main("dram", "dram-cluttered60-6g", [*small, "--num-glimpses", "2"]) == 0
    runs = sorted(str(p) for p in (tmp_path / "runs").iterdir())
    results = tmp_path / "results"
    results.mkdir()
    (results / "dram_notes.md").write_text("Hand-written DRAM notes.\n")
    subprocess.run(
        [sys.executable, "benchmarks/collect_results.py", *runs, "--results", str(results)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    dram = json.loads((results / "dram.json").read_text())
    ram = json.loads((results / "ram.json").read_text())
    assert set(dram) == {"dram-cluttered60-6g"} and set(ram) == {"ram-mnist28-6g"}
    final = json.loads((Path(runs[0]) / "final.json").read_text())
    assert dram["dram-cluttered60-6g"]["test_errors_mc"] == final["test_errors_mc"]
    assert dram["dram-cluttered60-6g"]["context_size"] == 24
    assert dram["dram-cluttered60-6g"]["valid_error"] == final["valid_error_mc"]
    table = (results / "dram.md").read_text()
    assert "2.75% (missed by" in table and table.rstrip().endswith("Hand-written DRAM notes.")
    assert f"| {final['valid_error_mc']:.2f}% |" in table
    assert (results / "dram-cluttered60-6g.png").stat().st_size > 0
    curves = results / "curves.png"
    plot = ["benchmarks/plot_curves.py", *runs, "--labels", "dram", "ram", "--out", str(curves)]
    subprocess.run([sys.executable, *plot], cwd=REPO, capture_output=True, text=True, check=True)
    assert Image.open(curves).size[0] > 100
    # Another run of the same preset takes the key; --keep-as keeps the previous entry beside it.
    again = [sys.executable, "benchmarks/collect_results.py", runs[0], "--results", str(results)]
    again += ["--keep-as", "+first"]
    subprocess.run(again, cwd=REPO, capture_output=True, text=True, check=True)
    dram = json.loads((results / "dram.json").read_text())
    assert set(dram) == {"dram-cluttered60-6g", "dram-cluttered60-6g+first"}
    assert (results / "dram-cluttered60-6g_first.png").is_file()
    assert (results / "dram-cluttered60-6g.png").is_file()
    assert "| dram-cluttered60-6g+first |" in (results / "dram.md").read_text()
    before = (results / "dram.json").read_text()
    taken = subprocess.run(again, cwd=REPO, capture_output=True, text=True)
    assert taken.returncode != 0 and "'dram-cluttered60-6g+first' is taken" in taken.stderr
    assert (results / "dram.json").read_text() == before
    unfinished = Path(runs[1])
    (unfinished / "final.json").unlink()
    failed = subprocess.run(
        [
            sys.executable,
            "benchmarks/collect_results.py",
            str(unfinished),
            "--results",
            str(results),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert failed.returncode != 0 and "has not finished" in failed.stderr


@pytest.mark.parametrize(
    "command",
    ["glimpse-train-ram", "glimpse-train-dram", "glimpse-train-edram", "glimpse-ppo",
     "glimpse-zoo-card", "glimpse-env-data"],
)  # fmt: skip
def test_console_commands_are_installed(command):
    executable = Path(sys.executable).parent / command
    assert executable.is_file(), f"{command} is not installed beside {sys.executable}"
    done = subprocess.run([str(executable), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "usage:" in done.stdout, done.stderr


def test_ram_minimal_trains_a_few_updates_and_prints_the_test_error():
    script = REPO / "examples" / "ram_minimal.py"
    assert "from agents" not in script.read_text()  # only glimpse_env from this project
    command = [sys.executable, str(script), "--updates", "3", "--num-envs", "16"]
    command += ["--test-canvases", "50", "--log-every", "1", "--env-id", "MNIST-v0"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == ["update 1", "update 2", "update 3"]
    assert lines[3].startswith("greedy test error") and lines[3].endswith("/50)")


def test_ram_minimal_is_the_zoo_ram_layer_for_layer():
    """The one-file RAM and ``agents.models.ram.RAM`` are the same network: the example's weights
    load into the project's model (same names and shapes) and give the same outputs."""
    import importlib.util

    import torch

    from agents.models.ram import RAM, CoreState

    spec = importlib.util.spec_from_file_location(
        "ram_minimal", REPO / "examples" / "ram_minimal.py"
    )
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    mine = example.RAM(3 * 12 * 12, 256)
    ours = RAM((3, 12, 12))
    ours.load_state_dict(mine.state_dict())  # strict: every name and shape agrees
    glimpse, location = torch.rand(5, 3, 12, 12), torch.rand(5, 2) * 2 - 1
    zeros = torch.zeros(5, 256)
    h, c = mine.step(glimpse, location, (zeros, zeros))
    state = ours.observe(glimpse, location, CoreState(zeros, zeros))
    torch.testing.assert_close(state.h, h)
    torch.testing.assert_close(ours.location_mean(state), mine.location_mean(h))
    torch.testing.assert_close(ours.classify(state), mine.classifier(h))
