"""benchmarks/valid_curves.py: the GPU runs' table is what their records give."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def valid_curves(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import valid_curves

    return valid_curves


def write_run(folder, name, points):
    lines = [json.dumps({"update": u, "loss/total": 1.0}) for u, _ in points]
    lines += [json.dumps({"update": u, "valid/error_greedy": e}) for u, e in points]
    (folder / f"{name}.jsonl").write_text("\n".join(lines) + "\n")


def test_table_gives_every_point_and_the_best(tmp_path, valid_curves):
    run = dict(preset="edram-cluttered100", change="lr halved", batch="alone", command="python x")
    manifest = tmp_path / "runs.json"
    manifest.write_text(json.dumps({"machine": "m", "metric": "e", "runs": {"a": run, "b": run}}))
    write_run(tmp_path, "a", [(1000, 30.0), (500, 40.0), (1500, 35.5)])
    write_run(tmp_path, "b", [(1000, 12.25)])
    spec, curves = valid_curves.load_curves(manifest)
    assert curves["a"] == [(500, 40.0), (1000, 30.0), (1500, 35.5)]  # sorted, losses ignored
    text = valid_curves.markdown(spec, curves, "runs.json")
    row_a = next(line for line in text.splitlines() if line.startswith("| a |"))
    assert "| 40.00 | 30.00 | 35.50 |" in row_a and "**30.00** at 1,000" in row_a
    row_b = next(line for line in text.splitlines() if line.startswith("| b |"))
    assert "|  | 12.25 |  |" in row_b  # no point at 500 or 1,500: empty cells
    assert "- a: `python x`" in text


def test_bad_manifests_get_one_clear_error(tmp_path, valid_curves):
    manifest = tmp_path / "runs.json"
    run = dict(preset="p", change="c", batch="b", command="x")
    manifest.write_text(json.dumps({"machine": "m", "metric": "e", "runs": {"gone": run}}))
    with pytest.raises(FileNotFoundError, match="run 'gone'"):
        valid_curves.load_curves(manifest)
    manifest.write_text(json.dumps({"runs": {"half": {"preset": "p"}}}))
    with pytest.raises(ValueError, match="run 'half' lacks \\['change', 'batch', 'command'\\]"):
        valid_curves.load_curves(manifest)
    manifest.write_text("{not json")
    with pytest.raises(ValueError, match="not a runs manifest"):
        valid_curves.load_curves(manifest)


def test_committed_table_is_current(valid_curves):
    manifest = REPO / "results" / "edram_gpu" / "runs.json"
    spec, curves = valid_curves.load_curves(manifest)
    text = valid_curves.markdown(spec, curves, "results/edram_gpu/runs.json")
    assert (REPO / "results" / "edram_gpu.md").read_text() == text
