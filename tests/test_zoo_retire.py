"""Retiring a zoo model: its card and a restore command to results/retired/, from git history."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from agents import zoo_retire
from agents.zoo_card import main as zoo_card_main
from agents.zoo_card import publish
from tests.test_zoo import _train

README = """# Retired zoo models

| model | why retired | last test error (MC) | restore |
| --- | --- | --- | --- |
| `old` (card `old-x.json`) | an earlier row | 9.00% (900/10000), `MNIST-v0` | ... |

A closing paragraph.
"""


def _git(repo: Path, *args: str) -> str:
    command = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    return subprocess.run([*command, *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture()
def repo(tmp_path) -> Path:
    """A git checkout with a committed zoo model ``m`` and a README of retired models."""
    root = tmp_path / "repo"
    (root / "models").mkdir(parents=True)
    (root / "results" / "retired").mkdir(parents=True)
    (root / "results" / "retired" / "README.md").write_text(README)
    card = {
        "name": "m",
        "env_id": "TranslatedMNIST-v0",
        "valid": {"mc": {"error_pct": 1.0}},
        "test": {"mc": {"error_pct": 0.95, "errors": 95, "canvases": 10000}},
    }
    (root / "models" / "m.json").write_text(json.dumps(card, indent=2) + "\n")
    (root / "models" / "m.safetensors").write_bytes(bytes(range(256)) * 4)
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "zoo")
    return root


def _retire(root: Path, label: str = "seed0", why: str = "replaced by seed 1") -> Path:
    plan = zoo_retire.plan("m", label, why, root / "models", root / "results" / "retired")
    return plan.retire()


def test_retiring_keeps_the_card_and_a_command_that_restores_the_weights(repo):
    weights = (repo / "models" / "m.safetensors").read_bytes()
    card_text = (repo / "models" / "m.json").read_text()
    head = _git(repo, "log", "-1", "--format=%h").strip()
    retired = _retire(repo)
    assert retired == repo / "results" / "retired" / "m-seed0.json"
    assert retired.read_text() == card_text
    assert not (repo / "models" / "m.safetensors").exists()
    assert not (repo / "models" / "m.json").exists()
    lines = (repo / "results" / "retired" / "README.md").read_text().splitlines()
    row = lines[5]
    assert lines[4].startswith("| `old`") and lines[6] == ""
    assert row.startswith("| `m` (card `m-seed0.json`) | replaced by seed 1 | 0.95% (95/10000)")
    assert "`TranslatedMNIST-v0`" in row
    restore = row.split("|")[4].strip()
    assert restore == (
        f"`git show {head}:models/m.safetensors > models/m.safetensors` and "
        "`cp results/retired/m-seed0.json models/m.json`"
    )
    for command in restore.split(" and "):  # the row's own commands put the model back
        subprocess.run(command.strip("`"), shell=True, cwd=repo, check=True)
    assert (repo / "models" / "m.safetensors").read_bytes() == weights
    assert (repo / "models" / "m.json").read_text() == card_text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("uncommitted", "differs from the last commit"),
        ("untracked", "did not match any file"),
        ("label-taken", "choose another --label"),
        ("no-model", "no zoo model with a card"),
        ("no-table", "no table of retired models"),
    ],
)
def test_retiring_refuses_what_would_lose_a_model_and_writes_nothing(repo, change, message):
    readme = repo / "results" / "retired" / "README.md"
    label = "seed0"
    if change == "uncommitted":
        (repo / "models" / "m.safetensors").write_bytes(b"other weights")
    elif change == "untracked":
        _git(repo, "rm", "-q", "--cached", "models/m.safetensors")
        _git(repo, "commit", "-q", "-m", "untrack")
    elif change == "label-taken":
        label = "x"
        (repo / "results" / "retired" / "m-x.json").write_text("{}")
    elif change == "no-model":
        (repo / "models" / "m.json").unlink()
    elif change == "no-table":
        readme.write_text("# Retired\n")
    before = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts}
    with pytest.raises(ValueError, match=message):
        _retire(repo, label)
    after = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts}
    assert after == before


@pytest.mark.parametrize("why", ["", "a | b", "two\nlines"])
def test_the_reason_is_one_table_cell(repo, why):
    with pytest.raises(ValueError, match="--why"):
        _retire(repo, why=why)


def test_the_command_line_retires_and_reports_one_error(repo, capsys):
    models, retired = repo / "models", repo / "results" / "retired"
    argv = ["m", "--label", "a", "--why", "gone", "--models-dir", str(models)]
    assert zoo_retire.main([*argv, "--retired-dir", str(retired)]) == 0
    assert (retired / "m-a.json").is_file()
    assert zoo_retire.main([*argv, "--retired-dir", str(retired)]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_publishing_over_a_model_retires_it_only_when_it_is_replaced(tmp_path, repo, capsys):
    models, retired = repo / "models", repo / "results" / "retired"
    bad = _train(tmp_path / "bad", updates=1)
    good = _train(tmp_path / "good", updates=60, lr=3e-3)
    publish(bad, "n", models, progress=False, canvases=200)
    _git(repo, "add", "models")
    _git(repo, "commit", "-q", "-m", "n")
    readme = (retired / "README.md").read_text()

    def publish_over(checkpoint: Path, label: str) -> bool:
        written, _ = publish(
            checkpoint, "n", models, if_better=True, progress=False, canvases=200,
            retire_as=label, why="replaced", retired_dir=retired,
        )  # fmt: skip
        return written

    assert not publish_over(bad, "same")  # not better: nothing retired
    assert (retired / "README.md").read_text() == readme
    assert not (retired / "n-same.json").exists()
    old_card = (models / "n.json").read_text()
    assert publish_over(good, "first")
    assert (retired / "n-first.json").read_text() == old_card
    assert "| `n` (card `n-first.json`) | replaced |" in (retired / "README.md").read_text()
    assert (models / "n.safetensors").is_file()  # the new model is in the zoo
    # Before minutes of scoring: the model in the zoo is now uncommitted, so it cannot be retired.
    with pytest.raises(ValueError, match="commit it first"):
        publish_over(good, "second")
    with pytest.raises(SystemExit):
        zoo_card_main([str(good), "--name", "n", "--retire-as", "x"])
    assert "--retire-as needs --why" in capsys.readouterr().err
