"""DRAM: the context network, gradient routing of its two layers, training via the trainer."""

from __future__ import annotations

import pytest
import torch

from agents.cli.attention import main
from agents.models.dram import DRAM, ConvGlimpseNetwork, DRAMForm
from agents.models.ram import RAMSizes
from agents.training.config import TrainConfig
from agents.training.hybrid_loss import hybrid_loss
from agents.training.presets import preset_config
from agents.training.registry import build_agent, glimpse_shape
from agents.training.rollout import rollout
from agents.training.trainer import Trainer
from glimpse_env.envs.vector import GlimpseVectorEnv

SMALL = RAMSizes(glimpse_hidden=16, location_hidden=8, hidden=32)


def _episodes(model: DRAM, n: int = 16):
    env = GlimpseVectorEnv(n, output="torch", num_glimpses=4, context_size=24)
    first = env.reset(seed=0)
    return rollout(model, env, first, 0.11, generator=torch.Generator().manual_seed(0))


def _reached(model: DRAM, term: torch.Tensor) -> set[str]:
    model.zero_grad(set_to_none=True)
    term.backward(retain_graph=True)
    return {
        name
        for name, part in model.named_children()
        if any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in part.parameters())
    }


@pytest.mark.parametrize("trains_core", [False, True])
def test_gradient_routing(trains_core):
    model = DRAM((3, 12, 12), 24, SMALL, reinforce_trains_core=trains_core)
    loss = hybrid_loss(_episodes(model))
    location_side = {"location_head", "top", "context_net"}
    core_side = {"bottom", "glimpse_net"}
    assert _reached(model, loss.reinforce) == location_side | (core_side if trains_core else set())
    assert _reached(model, loss.classification) == core_side | {"classifier"}
    assert _reached(model, loss.baseline) == {"baseline_head"}


def test_the_context_network_sets_the_first_location_choice():
    model = DRAM((3, 12, 12), 24, SMALL)
    episodes = _episodes(model)
    # Same first glimpse (the centre) everywhere, different canvases: the first chosen locations
    # differ only through the context network.
    assert episodes.means[:, 0].std(0).sum() > 0


def test_dram_needs_the_context_observation():
    model = DRAM((3, 12, 12), 24, SMALL)
    env = GlimpseVectorEnv(2, output="torch", num_glimpses=2)
    with pytest.raises(ValueError, match="context_size=24"):
        rollout(model, env, env.reset(seed=0), 0.11)
    with pytest.raises(ValueError, match="needs a coarse view"):
        Trainer(TrainConfig(agent="dram", batch_size=2), "unused", progress=False)
    with pytest.raises(ValueError, match="core must be 'lstm'"):
        DRAM((3, 12, 12), 24, RAMSizes(core="rnn"))


def test_short_dram_training_on_real_data_beats_chance_by_far(tmp_path):
    config = TrainConfig(
        agent="dram", env_id="MNIST-v0", context_size=12, num_glimpses=4, glimpse_hidden=64,
        location_hidden=32, hidden=64, batch_size=64, updates=400, lr=3e-3, num_threads=1,
        eval_every=0, log_every=50, final_eval_canvases=500, eval_batch_size=500,
    )  # fmt: skip
    result = Trainer(config, tmp_path / "run", progress=False).train()
    assert result.greedy is not None
    assert result.greedy.error_pct < 50.0, result.greedy  # chance: 90%; measured ~26%


def test_dram_presets_and_command_line(tmp_path, capsys):
    for name in ("dram-ram-glimpse-cluttered60-6g", "dram-ram-glimpse-cluttered100-8g"):
        config = preset_config(name)
        assert config.agent == "dram" and config.task_kwargs()["num_scales"] == 2
        assert config.glimpse_network == "fc" and config.context_layers == 2
    paper_form = ("dram-cluttered60-6g", "dram-cluttered100-8g", "dram-translated60-6g")
    for name in (*paper_form, "dram-pairs", "dram-addition"):
        config = preset_config(name)
        assert (config.glimpse_network, config.context_layers) == ("conv", 3)
        assert config.task_kwargs()["initial_location"] == "agent"
    argv = ["--logdir", str(tmp_path), "--no-progress", "--updates", "2", "--batch-size", "8"]
    argv += ["--hidden", "16", "--final-eval-canvases", "20", "--eval-batch-size", "20"]
    assert main("dram", "dram-cluttered60-6g", argv) == 0
    assert "mc test error" in capsys.readouterr().out
    assert main("dram", "dram-cluttered60-6g", ["--preset", "ram-cluttered60-6g"]) == 2


PAPER = DRAMForm(glimpse_network="conv", context_layers=3, conv_channels=4)


def test_paper_form_multiplies_what_and_where_and_has_three_context_layers():
    model = DRAM((4, 12, 12), 24, SMALL, form=PAPER)
    assert isinstance(model.glimpse_net, ConvGlimpseNetwork)
    assert model.context_net.conv3 is not None
    glimpse, location = torch.rand(5, 4, 12, 12), torch.rand(5, 2) * 2 - 1
    net = model.glimpse_net
    what = torch.relu(net.what(_conv_features(net, glimpse)))
    where = torch.relu(net.where(location))
    torch.testing.assert_close(net(glimpse, location), what * where)
    # A zero "where" silences the glimpse entirely: the pathways are multiplied, not added.
    with torch.no_grad():
        net.where.weight.zero_()
        net.where.bias.fill_(-1.0)
    assert not net(glimpse, location).any()


def _conv_features(net: ConvGlimpseNetwork, glimpse: torch.Tensor) -> torch.Tensor:
    x = torch.relu(net.conv2(torch.relu(net.conv1(glimpse))))
    return torch.relu(net.conv3(torch.nn.functional.max_pool2d(x, 2))).flatten(1)


def test_the_context_chooses_the_first_glimpse():
    model = DRAM((4, 12, 12), 24, SMALL, form=PAPER)
    env = GlimpseVectorEnv(
        6, output="torch", canvas_size=100, num_scales=4, num_glimpses=3, context_size=24,
        initial_location="agent",
    )  # fmt: skip
    first = env.reset(seed=2)
    episodes = rollout(model, env, first, 0.11, sample=False)
    expected = model.location_mean(model.initial_state(first[0])).clamp(-1, 1)
    assert episodes.locations.shape == (6, 3, 2) and episodes.means.shape == (6, 3, 2)
    torch.testing.assert_close(episodes.locations[:, 0], expected)
    assert episodes.locations[:, 0].std(0).sum() > 0  # chosen per canvas, from its context


def test_pairs_rollout_names_each_digit_and_credits_choices_with_what_follows():
    model = DRAM((4, 12, 12), 24, SMALL, form=PAPER)
    env = GlimpseVectorEnv(
        8, output="torch", canvas_size=100, num_scales=4, num_glimpses=2, num_digits=2,
        context_size=24, initial_location="agent",
    )  # fmt: skip
    first = env.reset(seed=5)
    truth = env.episodes.digit_labels.clone()
    episodes = rollout(model, env, first, 0.11, generator=torch.Generator().manual_seed(0))
    assert episodes.answer_logits.shape == (8, 2, 10) and torch.equal(episodes.answers, truth)
    # 4 glimpses, all chosen (the first from the context); choices 0-1 look at digit 0.
    assert episodes.log_probs.shape == (8, 4) and episodes.choice_digits.tolist() == [0, 0, 1, 1]
    named = episodes.answer_logits.argmax(-1) == truth
    torch.testing.assert_close(episodes.rewards, named.float().sum(1))
    # Choices made before digit 0 is named earn both answers, later ones only the second.
    torch.testing.assert_close(episodes.returns[:, 0], named.float().sum(1))
    torch.testing.assert_close(episodes.returns[:, 3], named[:, 1].float())
    loss = hybrid_loss(episodes)
    assert loss.classification > 2 * 2.0  # two cross-entropies near log(10) each, summed


def test_addition_model_answers_nineteen_sums():
    config = preset_config("dram-addition", hidden=16, glimpse_hidden=8, location_hidden=8)
    model = build_agent(config, glimpse_shape(config))
    assert model.classifier.out_features == 19


def test_warm_start_moves_a_digit_model_to_the_sums(tmp_path, capsys):
    tiny = dict(hidden=16, glimpse_hidden=8, location_hidden=8, dram_channels=2, num_glimpses=2,
                batch_size=4, updates=1, final_eval_canvases=4, eval_batch_size=4, mc_samples=2,
                eval_every=0, num_threads=1)  # fmt: skip
    pairs = preset_config("dram-pairs", **tiny)
    Trainer(pairs, tmp_path / "pairs", progress=False).train()
    parent = tmp_path / "pairs" / "checkpoint.pt"
    addition = preset_config("dram-addition", **tiny, init_from=str(parent))
    trainer = Trainer(addition, tmp_path / "addition", progress=False)
    assert "10 classes, this task 19; it starts afresh" in capsys.readouterr().out
    loaded = torch.load(parent, weights_only=True)["model"]
    own = trainer.model.state_dict()
    assert torch.equal(own["context_net.conv3.weight"], loaded["context_net.conv3.weight"])
    assert own["classifier.weight"].shape == (19, 16)
    other = preset_config("dram-addition", **{**tiny, "dram_channels": 3}, init_from=str(parent))
    with pytest.raises(ValueError, match="dram_channels"):
        Trainer(other, tmp_path / "other", progress=False)
