"""benchmarks/edram_glimpses.py: per-glimpse figures agree with the evaluation and the targets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from agents.evaluation import evaluate
from agents.training.config import TrainConfig
from agents.training.objectives import OBJECTIVES
from agents.training.registry import build_agent, glimpse_shape
from agents.training.scorer import make_env
from glimpse_env.evaluation import evaluation_key as evaluation_stream_key

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def edram_glimpses(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import edram_glimpses

    return edram_glimpses


def test_last_glimpse_is_the_evaluation_and_windows_match_targets(edram_glimpses) -> None:
    config = TrainConfig(
        agent="edram", env_id="ClutteredMNIST-v0", num_glimpses=3, window_size=16,
        conv_channels=8, features=32, hidden=32, classifier_hidden=32, num_threads=1,
    )  # fmt: skip
    torch.manual_seed(0)
    model = build_agent(config, glimpse_shape(config))
    canvases, seed = 120, 3  # not a multiple of the batch: the last batch is partly unused
    report = edram_glimpses.glimpse_report(model, make_env(config, "valid", 50), canvases, seed)

    player = OBJECTIVES["edram"].player(model, config)
    result = evaluate(model, make_env(config, "valid", 50), player, canvases, eval_seed=seed)
    assert report.error_pct[-1] == pytest.approx(result.error_pct, abs=0.005)
    assert len(report.error_pct) == 3 and report.split == "valid"

    # A fresh EDRAM's emission has zero weights: every glimpse uses the same window, so each
    # glimpse's distance is the mean distance of that window from the canvases' targets.
    window = model.emit(torch.zeros(1, 32))[0].detach()
    env = make_env(config, "valid", canvases)
    env.reset_to(evaluation_stream_key(seed), np.arange(canvases))
    difference = window - env.episodes.target_affine()[:, 0]
    for i, name in ((0, "sx"), (2, "tx"), (4, "sy"), (5, "ty")):
        expected = float(difference[:, i].abs().mean())
        assert report.window_abs_error[name] == pytest.approx([expected] * 3, abs=1e-4)
    assert report.window_bias["ty"] == pytest.approx([float(difference[:, 5].mean())] * 3, abs=1e-4)

    # Centred on the digit: the model's own forward pass, on all 120 canvases at once.
    target = env.episodes.target_affine()[:, 0]
    with torch.no_grad():
        centred = model.eval()(env.canvases, centres=target[:, [2, 5]])
    assert torch.equal(centred.thetas[:, 1:, [2, 5]], target[:, None, [2, 5]].expand(-1, 2, -1))
    assert torch.equal(centred.thetas[:, 0], window.expand(canvases, -1))  # the first: its own
    wrong = (centred.logits.argmax(-1) != env.episodes.answers[:, :1]).double().mean(0) * 100
    assert report.centred_error_pct == pytest.approx(wrong.tolist(), abs=0.005)

    table = edram_glimpses.markdown(report).splitlines()
    assert len(table) == 2 + 3 and table[-1].startswith(f"| 3 | {report.error_pct[-1]:.2f}% |")


def test_command_line_rejects_a_model_that_is_not_edram(edram_glimpses, capsys) -> None:
    assert edram_glimpses.main(["ram-translated60-6g", "--canvases", "10"]) == 2
    assert "is a ram model, not EDRAM" in capsys.readouterr().err


def test_edram_rejects_centres_of_the_wrong_shape() -> None:
    config = TrainConfig(agent="edram", env_id="ClutteredMNIST-v0", num_glimpses=2,
                         window_size=16, conv_channels=8, features=32, hidden=32,
                         classifier_hidden=32)  # fmt: skip
    model = build_agent(config, glimpse_shape(config))
    with pytest.raises(ValueError, match=r"centres must be \(N, 2\) = \(3, 2\), got \(3, 4\)"):
        model(torch.zeros(3, 60, 60), centres=torch.zeros(3, 4))
