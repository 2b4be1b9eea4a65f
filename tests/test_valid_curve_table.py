"""benchmarks/valid_curve_table.py: SB3 cards' validation curves side by side."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from valid_curve_table import curve_table, main


def _card(tmp_path: Path, name: str, curve: list[list[float]], final: float) -> Path:
    path = tmp_path / f"{name}.json"
    card = {
        "name": name,
        "valid_curve": curve,
        "valid": {"greedy": {"error_pct": final}},
        "config": {
            "hyper": {"learning_rate": 3e-4, "ent_coef": 0.05, "gae_lambda": 0.5, "n_steps": 36}
        },
    }
    path.write_text(json.dumps(card))
    return path


def test_each_column_takes_the_report_at_its_step_count_and_leaves_gaps_empty(tmp_path):
    a = _card(
        tmp_path, "a", [[250048, 90.0, 80.0], [500032, 180.0, 70.0], [1000000, 400, 50]], 49.5
    )
    b = _card(tmp_path, "b", [[250048, 95.0, 60.0]], 61.2)
    table = curve_table([a, b], [250_000, 500_000, 1_000_000], window=250_000).splitlines()
    assert table[0] == "| card | settings | 250k | 500k | 1M | final, 10,000 valid |"
    assert table[2] == "| `a` | 0.0003 / 0.05 / 0.5 / 36 | 80% | 70% | 50% | 49.5% |"
    assert table[3] == "| `b` | 0.0003 / 0.05 / 0.5 / 36 | 60% |  |  | 61.2% |"


def test_a_file_that_is_not_a_card_is_named_in_one_error(tmp_path, capsys):
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"name": "x"}))
    with pytest.raises(SystemExit):
        main([str(path), "--steps", "1000000"])
    assert "not a baseline card with a valid_curve" in capsys.readouterr().err
