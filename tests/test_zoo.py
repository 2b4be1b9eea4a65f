"""The model zoo: publishing a card, loading by name, warm starts, and the shipped models."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors import safe_open

from agents import zoo
from agents.cli.attention import main
from agents.targets import TARGETS
from agents.training.config import TrainConfig
from agents.training.trainer import Trainer
from agents.zoo_card import CHECK_CANVASES, publish

REPO = Path(__file__).resolve().parents[1]
SMALL = dict(
    env_id="MNIST-v0", num_glimpses=2, hidden=16, glimpse_hidden=8, location_hidden=8,
    batch_size=16, log_every=1, eval_every=0, final_eval_canvases=40, eval_batch_size=100,
    num_threads=1,
)  # fmt: skip


def _train(run_dir: Path, **changes) -> Path:
    Trainer(TrainConfig(**{**SMALL, "updates": 3, **changes}), run_dir, progress=False).train()
    (run_dir / "command.txt").write_text(f"python train/ram_agent.py --run {run_dir.name}\n")
    return run_dir / "checkpoint.pt"


@pytest.fixture()
def models(tmp_path, monkeypatch) -> Path:
    directory = tmp_path / "models"
    monkeypatch.setenv(zoo.MODELS_ENV_VAR, str(directory))
    return directory


def test_published_card_is_reproduced_by_load_and_by_eval(tmp_path, models, capsys):
    checkpoint = _train(tmp_path / "a")
    written, card = publish(checkpoint, "tiny", progress=False, canvases=300)
    weights_file = models / "tiny.safetensors"
    assert written and weights_file.is_file() and (models / "tiny.json").is_file()
    with safe_open(weights_file, framework="pt") as stored:  # no pickle at all
        metadata = stored.metadata()
        dtypes = {stored.get_tensor(k).dtype for k in stored.keys()}
    assert dtypes == {torch.float16}
    assert card["weights_dtype"] == "float16" and card["weights_file"] == "tiny.safetensors"
    assert card["weights_sha256"] == metadata["weights_sha256"]
    assert card["weights_bytes"] == weights_file.stat().st_size
    assert float(metadata["test_mc_error_pct"]) == card["test"]["mc"]["error_pct"]
    assert json.loads(metadata["lineage"])["updates"] == 3
    assert card["updates"] == 3 and card["samples"] == 3 * 16
    assert card["command_chain"] == ["python train/ram_agent.py --run a"]
    assert card["machine"]["cores"] and card["machine"]["torch"] == torch.__version__
    agent = zoo.load("tiny")
    assert not agent.model.training
    assert all(p.dtype == torch.float32 for p in agent.model.parameters())  # upcast to evaluate
    greedy, mc = agent.evaluate("test")
    assert (greedy.errors, greedy.total) == (card["test"]["greedy"]["errors"], 300)
    assert mc.errors == card["test"]["mc"]["errors"]
    assert agent.evaluate("valid")[1].errors == card["valid"]["mc"]["errors"]
    # The greedy paths of the first canvases, as pictures draw them: the same answers.
    paths = agent.trajectories(5)
    assert paths.locations.shape == (5, agent.task.num_glimpses, 2)
    assert paths.canvases.shape == (5, agent.task.canvas_size, agent.task.canvas_size)
    first, _ = agent.evaluate("test", num_canvases=5)
    assert int((paths.predictions != paths.labels).sum()) == first.errors
    with pytest.raises(ValueError, match="num_canvases must be at least 1"):
        agent.trajectories(0)
    # The command line prints the card's numbers, to the digit.
    capsys.readouterr()
    assert main("ram", "ram-mnist28-6g", ["--eval", str(weights_file)]) == 0
    t = card["test"]
    assert capsys.readouterr().out.splitlines() == [
        f"greedy test error {t['greedy']['error_pct']:.2f}% ({t['greedy']['errors']}/300)",
        f"mc test error {t['mc']['error_pct']:.2f}% ({t['mc']['errors']}/300)",
    ]


def test_card_and_file_must_agree(tmp_path, models):
    publish(_train(tmp_path / "a"), "tiny", progress=False, canvases=100)
    card = json.loads((models / "tiny.json").read_text())
    card["weights_sha256"] = "0" * 64
    (models / "tiny.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match=r"its card .* describes"):
        zoo.load("tiny")
    with pytest.raises(FileNotFoundError, match="no zoo model named 'nope'"):
        zoo.load("nope")


def test_first_format_zoo_files_still_load_and_are_replaced_on_publishing(tmp_path, models):
    """A float32 ``.pt`` zoo file (glimpse-env-zoo-v1) loads by name; republishing it writes
    the float16 safetensors file, removes the ``.pt`` and changes the answers by rounding only."""
    checkpoint = _train(tmp_path / "a", updates=30, lr=3e-3)
    weights = zoo.read_weights(checkpoint)
    models.mkdir()
    legacy = models / "old.pt"
    torch.save(
        {"format": zoo.LEGACY_FORMAT, "name": "old", "config": weights.config.to_dict(),
         "weights": weights.state, "weights_sha256": weights.sha256,
         "lineage": weights.lineage},
        legacy,
    )  # fmt: skip
    old = zoo.load("old")
    assert old.weights.source == legacy and old.weights.stored_dtype == "float32"
    before, _ = old.evaluate("test", 200)
    written, card = publish(legacy, "old", progress=False, canvases=200)
    assert written and not legacy.exists() and zoo.resolve("old").suffix == ".safetensors"
    after = card["test"]["greedy"]
    assert abs(after["errors"] - before.errors) <= 2, (before, after)
    assert card["command_chain"] == ["python train/ram_agent.py --run a"]


def test_if_better_keeps_the_model_with_the_lower_validation_error(tmp_path, models):
    good = _train(tmp_path / "good", updates=60, lr=3e-3)
    bad = _train(tmp_path / "bad", updates=1)
    written, first = publish(good, "m", progress=False, canvases=200)
    assert written
    written, second = publish(bad, "m", progress=False, canvases=200, if_better=True)
    assert second["valid"]["mc"]["error_pct"] > first["valid"]["mc"]["error_pct"]
    assert not written
    assert json.loads((models / "m.json").read_text())["weights_sha256"] == first["weights_sha256"]


def test_if_better_never_scores_test_for_a_candidate_it_does_not_write(
    tmp_path, models, monkeypatch, capsys
):
    """Selection reads ``valid`` only: a rejected candidate's test error is not computed (nor
    printed), and a written one is scored on ``test`` after ``valid``."""
    from agents.zoo_card import main

    good = _train(tmp_path / "good", updates=60, lr=3e-3)
    bad = _train(tmp_path / "bad", updates=1)
    splits: list[str] = []
    evaluate = zoo.ZooAgent.evaluate

    def recording(self, split, *args, **kwargs):
        splits.append(split)
        return evaluate(self, split, *args, **kwargs)

    monkeypatch.setattr(zoo.ZooAgent, "evaluate", recording)
    written, first = publish(good, "m", progress=False, canvases=200, if_better=True)
    assert written and splits[0] == "valid" and "test" in splits and "test" in first
    splits.clear()
    written, second = publish(bad, "m", progress=False, canvases=200, if_better=True)
    assert not written and splits == ["valid"] and set(second) == {"name", "valid"}
    capsys.readouterr()
    assert main([str(bad), "--name", "m", "--if-better", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "not written" in out and "test" not in out.replace("test not scored", "")


def test_warm_start_continues_from_the_weights_and_extends_the_chain(tmp_path, models):
    publish(_train(tmp_path / "a", eval_every=2, eval_canvases=20), "parent", progress=False,
            canvases=100)  # fmt: skip
    parent_file = models / "parent.safetensors"
    config = TrainConfig(
        **{**SMALL, "updates": 2, "seed": 1, "init_from": str(parent_file), "eval_every": 1,
           "eval_canvases": 20}
    )  # fmt: skip
    child = Trainer(config, tmp_path / "b", progress=False)
    parent = zoo.load("parent")
    for name, tensor in parent.model.state_dict().items():
        torch.testing.assert_close(child.model.state_dict()[name], tensor, rtol=0, atol=0)
    assert child.update == 0 and child.optimizer.param_groups[0]["lr"] == config.lr  # fresh
    child.train()
    (tmp_path / "b" / "command.txt").write_text("python train/ram_agent.py --child\n")
    _, card = publish(tmp_path / "b" / "checkpoint.pt", "child", progress=False, canvases=100)
    assert card["command_chain"] == [
        "python train/ram_agent.py --run a",
        "python train/ram_agent.py --child",
    ]
    assert card["updates"] == 3 + 2 and card["samples"] == 5 * 16
    # the parent's validation reports (at its updates 2 and 3), then the run's, counted over
    # the lineage: the run's first report is at update 3 + 1
    parent_curve = zoo.read_card(models / "parent.json")["valid_curve"]
    assert [row[0] for row in parent_curve] == [2, 3]
    assert card["valid_curve"][:2] == parent_curve
    assert [row[0] for row in card["valid_curve"]] == [2, 3, 4, 5]
    assert all(0 <= row[2] <= 100 for row in card["valid_curve"])
    # a warm start on another task (3 glimpses, not 2) starts a curve of its own
    moved = TrainConfig(**{**config.to_dict(), "num_glimpses": 3})
    Trainer(moved, tmp_path / "moved", progress=False).train()
    assert [row[0] for row in zoo.run_valid_curve(tmp_path / "moved" / "checkpoint.pt")] == [4, 5]
    other = TrainConfig(**{**SMALL, "hidden": 32, "init_from": str(parent_file)})
    with pytest.raises(ValueError, match="other settings \\(hidden\\)"):
        Trainer(other, tmp_path / "c", progress=False)


def test_a_parents_curve_ends_at_its_weights(tmp_path):
    # a best.pt taken at update 4 of a run that reported at 2, 4 and 6: the curve behind it
    curve = [[2, 10.0, 30.0], [4, 20.0, 20.0], [6, 30.0, 25.0]]
    lineage = {"commands": [], "updates": 4, "samples": 64, "wall_clock_s": 20.0}
    weights = zoo.Weights(TrainConfig(**SMALL), {}, "0" * 64, lineage, tmp_path / "m.safetensors",
                          {"valid_curve": curve})  # fmt: skip
    assert zoo.lineage_valid_curve(weights) == curve[:2]


def test_zoo_tables_are_generated_from_the_cards(tmp_path, models):
    # a name with a target (TARGETS), so that the row states how far it is from it
    checkpoint = _train(tmp_path / "a", eval_every=1, eval_canvases=20)
    publish(checkpoint, "ram-translated60-6g", progress=False, canvases=100)
    # the tables read the cards alone: a card below its row's best public figure (3.33%)
    below = json.loads((models / "ram-translated60-6g.json").read_text())
    below.update(name="ram-cluttered60-6g", env_id="ClutteredMNIST-v0")
    below["test"]["mc"]["error_pct"] = 3.0
    (models / "ram-cluttered60-6g.json").write_text(json.dumps(below))
    page, readme, curves = tmp_path / "zoo.md", tmp_path / "README.md", tmp_path / "curves.png"
    script = [sys.executable, "benchmarks/zoo_table.py", "--models-dir", str(models),
              "--page", str(page), "--readme", str(readme), "--curves", str(curves)]  # fmt: skip
    page.write_text("# x\n<!-- zoo-table:start (generated by benchmarks/zoo_table.py from "
                    "models/*.json) -->\nold\n<!-- zoo-table:end -->\ntail\n")  # fmt: skip
    readme.write_text(
        "# r\n<!-- results:start (generated by benchmarks/zoo_table.py from "
        "models/*.json and results/baselines/*.json) -->\n<!-- results:end -->\n"
    )
    stale = subprocess.run([*script, "--check"], cwd=REPO)
    assert stale.returncode == 1 and not curves.exists()  # --check writes nothing
    subprocess.run(script, cwd=REPO, check=True, capture_output=True)
    assert Image.open(curves).size[0] > 100  # the card's validation curve, drawn
    text = page.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `ram-translated60-6g`"))
    assert row.startswith("| `ram-translated60-6g` | `MNIST-v0` | 1.86% | 1.08% |")
    assert "3 updates" in row and "`python train/ram_agent.py --run a`" in row, row
    assert "vs best public" in row and text.endswith("tail\n")
    assert "| `ram-mnist28-6g` | `MNIST-v0` | 1.29% | 1.08% | not trained yet |" in text
    summary = readme.read_text()
    ours = json.loads((models / "ram-translated60-6g.json").read_text())["test"]["mc"]
    row = next(line for line in summary.splitlines() if line.startswith("| `ram-translated60-6g`"))
    # bold only below the best public figure
    assert row.startswith(f"| `ram-translated60-6g` | 1.86% | 1.08% | {ours['error_pct']:.2f}% |")
    assert "| `ram-cluttered60-6g` | 5.88% | 3.33% | **3.00%** |" in summary
    assert "| 3 updates, " in row and " 1 thread |" in row  # the training and the machine
    assert row.endswith(
        "| `python train/ram_agent.py --run a` | 0.72% (`cnn-mnist28`) |"
    )  # baseline
    fresh = subprocess.run([*script, "--check"], cwd=REPO)
    assert fresh.returncode == 0
    (models / "notes.json").write_text('{"about": "not a card"}')  # one error, no traceback
    bad = subprocess.run([*script, "--check"], cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 2 and "notes.json is not a model card" in bad.stderr
    assert "Traceback" not in bad.stderr


# ---- the shipped zoo -------------------------------------------------------------------------
SHIPPED = REPO / "models"


def test_the_zoo_is_float16_safetensors_within_its_budget_and_the_readme_shows_it():
    cards = {p.stem: json.loads(p.read_text()) for p in SHIPPED.glob("*.json")}
    assert set(cards) <= set(TARGETS), f"zoo models without a target: {set(cards) - set(TARGETS)}"
    for name, card in cards.items():
        assert card["weights_file"] == f"{name}.safetensors", name
        assert card["weights_dtype"] == "float16", name
    shipped = [p for p in SHIPPED.iterdir() if not p.name.startswith(".")]  # not locks
    weights = {p.stem for p in shipped if p.suffix != ".json"}
    assert weights == set(cards), "every zoo file has a card and every card its file"
    assert sum(p.stat().st_size for p in shipped) < 48 * 2**20
    done = subprocess.run(
        [sys.executable, "benchmarks/zoo_table.py", "--check"], cwd=REPO, capture_output=True,
        text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize("name", sorted(p.stem for p in SHIPPED.glob("*.json")))
def test_every_zoo_model_still_scores_what_its_card_says(name, monkeypatch):
    """Re-score the first 1,000 test canvases (greedy); a stale card cannot pass."""
    monkeypatch.setenv(zoo.MODELS_ENV_VAR, str(SHIPPED))
    card = json.loads((SHIPPED / f"{name}.json").read_text())
    agent = zoo.load(name, eval_batch_size=500)
    greedy, _ = agent.evaluate("test", CHECK_CANVASES, eval_seed=card["eval_seed"])
    check = card["check"]
    assert check["canvases"] == CHECK_CANVASES
    # Same weights, same canvases: the same answers, but for a few float-rounding flips.
    assert abs(greedy.errors - check["errors"]) <= 3, (greedy, check)
    # And the 1,000 canvases agree with the card's 10,000-canvas figure (binomial, 4 sigma).
    p = card["test"]["greedy"]["error_pct"] / 100
    sigma = math.sqrt(CHECK_CANVASES * p * (1 - p))
    assert abs(greedy.errors - CHECK_CANVASES * p) <= 4 * sigma + 1, (greedy, p)


def test_speed_tables_are_generated_from_the_benchmark_records(tmp_path):
    """docs/speed.md's tables match results/*.json, and --check catches an edited figure."""
    check = [sys.executable, "benchmarks/speed_table.py", "--check"]
    done = subprocess.run(check, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    page = tmp_path / "speed.md"
    text = (REPO / "docs" / "speed.md").read_text()
    edited = text.replace("| `ram-cluttered60-6g` | 2.83 |", "| `ram-cluttered60-6g` | 1.00 |")
    assert edited != text
    page.write_text(edited)
    done = subprocess.run([*check, "--page", str(page)], cwd=REPO, capture_output=True)
    assert done.returncode == 1


def test_a_zoo_entry_is_one_unit_locked_while_published_and_its_card_restorable(
    tmp_path, models, capsys
):
    import fcntl

    from agents.zoo_card import main as card_main

    checkpoint = _train(tmp_path / "a")
    publish(checkpoint, "tiny", progress=False, canvases=50)
    weights, card_file = models / "tiny.safetensors", models / "tiny.json"
    first = json.loads(card_file.read_text())
    # A second publisher of the same name while the first holds the lock: one clear error.
    with (models / ".tiny.lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ValueError, match="another process is publishing 'tiny'"):
            publish(checkpoint, "tiny", progress=False, canvases=50)
    # A publish stopped between its two writes: new weights, the old card.
    publish(_train(tmp_path / "b", seed=5), "tiny", progress=False, canvases=50)
    card_file.write_text(json.dumps(first))
    with pytest.raises(ValueError, match="--sync-card"):
        zoo.load("tiny")
    assert card_main(["--sync-card", str(weights)]) == 0
    restored = json.loads(card_file.read_text())
    assert restored["weights_sha256"] != first["weights_sha256"]
    assert restored["weights_bytes"] == weights.stat().st_size
    zoo.load("tiny")  # consistent again
    # A file published before cards were embedded gets its card put in, tensors unchanged.
    from safetensors.torch import load_file, save_file

    from agents.zoo_card import CARD_KEY, embed_card

    with safe_open(weights, framework="pt") as stored:
        metadata = stored.metadata()
    assert json.loads(metadata.pop(CARD_KEY))["weights_sha256"] == restored["weights_sha256"]
    save_file(load_file(weights), weights, metadata)
    embed_card(weights)
    with safe_open(weights, framework="pt") as stored:
        assert CARD_KEY in stored.metadata()
    assert json.loads(card_file.read_text())["weights_bytes"] == weights.stat().st_size
    zoo.load("tiny")
    # Names are file stems inside the zoo directory.
    for bad in ("../x", "a/b", "Upper", ""):
        with pytest.raises(ValueError, match="must be lower-case letters"):
            publish(checkpoint, bad, progress=False, canvases=50)
    assert not (tmp_path / "x.safetensors").exists()


def test_the_training_script_publishes_through_the_one_publisher(monkeypatch, capsys):
    """``train/ram_agent.py --card CHECKPOINT --name NAME`` is ``python -m agents.zoo_card``."""
    from agents import zoo_card
    from agents.cli.attention import main

    seen = []
    monkeypatch.setattr(zoo_card, "main", lambda argv: seen.append(argv) or 0)
    argv = ["--card", "run/best.pt", "--name", "ram-x", "--if-better", "--no-progress"]
    assert main("ram", "ram-cluttered60-6g", argv) == 0
    assert seen == [["run/best.pt", "--name", "ram-x", "--notes", "", "--if-better",
                     "--no-progress"]]  # fmt: skip
    assert main("ram", "ram-cluttered60-6g", ["--card", "run/best.pt"]) == 2
    assert "--card needs --name" in capsys.readouterr().err
    assert main("ram", "ram-cluttered60-6g", [*argv, "--lr", "0.1"]) == 2
    assert "--lr cannot be applied with --card" in capsys.readouterr().err
    assert len(seen) == 1
    assert main("ram", "ram-cluttered60-6g", [*argv, "--retire-as", "s0", "--why", "seed"]) == 0
    assert seen[1][-4:] == ["--retire-as", "s0", "--why", "seed"]


def test_a_zoo_model_scores_on_its_anchors_task_and_refuses_one_it_cannot_see():
    """``evaluate(task=...)``: the canvases of another task (the compared figure's own), for a
    like-for-like figure; a task that changes the glimpse is refused, not played blind."""
    agent = zoo.load("ram-cluttered100-8g")
    ours, _ = agent.evaluate("valid", 40)
    fewer, _ = agent.evaluate("valid", 40, task={"num_distractors": 4})
    assert fewer.total == ours.total == 40
    clutter = [int((r.examples.canvases > 0).sum()) for r in (ours, fewer)]
    assert clutter[1] < clutter[0]  # the same digits, half the distractor patches
    with pytest.raises(ValueError, match="changes what the model observes"):
        agent.evaluate("valid", 10, task={"num_scales": 3})
    with pytest.raises(ValueError, match="task fields only"):
        agent.evaluate("valid", 10, task={"hidden": 3})
