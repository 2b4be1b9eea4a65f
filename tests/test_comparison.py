"""results/comparison.*: every row comes from a card (or the SB3 run record), and the committed
table is what the cards give today."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def comparison(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import comparison

    return comparison


def test_every_zoo_card_gives_a_row_with_its_figures(comparison):
    rows = {r.name: r for r in comparison.collect(REPO)}
    for path in sorted((REPO / "models").glob("*.json")):
        card = json.loads(path.read_text())
        row = rows[card["name"]]
        assert row.env_id == card["env_id"]
        assert row.test_greedy == card["test"]["greedy"]["error_pct"]
        assert row.parameters == card["parameters"] and row.canvases == card["samples"]
    ram = rows["ram-cluttered60-6g"]
    assert ram.pixels_read == 6 * 3 * 12 * 12  # 6 glimpses of 3 scales of 12x12
    assert ram.env_steps == ram.canvases * 6


def test_supervised_cards_give_rows_that_read_the_whole_canvas(comparison):
    rows = [r for r in comparison.collect(REPO) if r.agent.startswith(("FC", "CNN"))]
    cards = sorted((REPO / "results" / "baselines").glob("*.json"))
    assert len(rows) == sum(json.loads(p.read_text()).get("kind") == "supervised" for p in cards)
    for row in rows:
        side = comparison.task_config(**comparison._task_kwargs(row.env_id)).canvas_size
        assert row.pixels_read == side * side and row.env_steps is None


def test_committed_comparison_is_up_to_date():
    result = subprocess.run(
        [sys.executable, "benchmarks/comparison.py", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_sb3_cards_give_rows_and_supersede_the_run_record(comparison, tmp_path):
    card = {
        "kind": "sb3", "agent": "recurrent-ppo", "name": "rppo-c60", "env_id": "ClutteredMNIST-v0",
        "test": {"greedy": {"error_pct": 40.0, "errors": 4000, "canvases": 10000}},
        "parameters": 655773, "pixels_read": 2592, "multiply_adds": 3916032, "samples": 10,
        "env_steps": 60, "wall_clock_s": 5.0, "budget": "equal wall-clock", "selection": "valid",
    }  # fmt: skip
    (tmp_path / "results" / "baselines").mkdir(parents=True)
    (tmp_path / "results" / "baselines" / "rppo-c60.json").write_text(json.dumps(card))
    record = REPO / "results" / "runs_comparison.json"
    (tmp_path / "results" / "runs_comparison.json").write_text(record.read_text())
    rows = comparison.collect(tmp_path)
    carded = [r for r in rows if r.name == "rppo-c60"]
    assert len(carded) == 1 and carded[0].agent == "RecurrentPPO"
    assert carded[0].note == "equal wall-clock" and carded[0].env_steps == 60
    cluttered = {r.agent.split(" [")[0] for r in rows if r.env_id == "ClutteredMNIST-v0"}
    assert cluttered == {"RecurrentPPO", "PPO (frame stack)"}  # PPO still from the record
    assert sum(r.agent.startswith("RecurrentPPO") and r.env_id == "ClutteredMNIST-v0"
               for r in rows) == 1  # fmt: skip
    translated = [r for r in rows if r.env_id == "TranslatedMNIST-v0"]
    assert any(r.agent.startswith("RecurrentPPO") for r in translated)  # no card there yet


def test_every_sb3_card_in_the_repository_gives_its_row(comparison):
    rows = {r.name: r for r in comparison.collect(REPO)}
    for path in sorted((REPO / "results" / "baselines").glob("*.json")):
        card = json.loads(path.read_text())
        if card.get("kind") != "sb3":
            continue
        row = rows[card["name"]]
        assert row.test_greedy == card["test"]["greedy"]["error_pct"] and row.test_mc is None
        assert row.env_steps == card["env_steps"] and row.wall_clock_s == card["wall_clock_s"]
        assert card["budget"] and card["budget"] in row.note  # every SB3 row states its budget
