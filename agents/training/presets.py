"""Named presets of :class:`~agents.training.config.TrainConfig`: the papers' tasks with the
replication's optimiser, and :func:`preset_config`. How each schedule was chosen is in
``docs/presets.md``."""

from __future__ import annotations

from typing import Any

from agents.training.config import TrainConfig

#: DRAM with RAM's additive FC glimpse network, 2 scales, a 2-layer context network on a 24x24
#: view, the first glimpse at the centre.
_DRAM_RAM_GLIMPSE: dict[str, Any] = dict(
    agent="dram", num_scales=2, context_size=24, updates=100_000
)
#: DRAM in the paper's form (Ba et al. 2014), CPU-sized: the conv "what" x "where" glimpse
#: network (16-16-32 channels), a 3-layer context network on a 24x24 view whose state chooses
#: the first glimpse (``initial_location="agent"``), and the task's own scales (4 on 100x100).
_DRAM: dict[str, Any] = dict(
    agent="dram", glimpse_network="conv", dram_channels=16, context_layers=3, context_size=24,
    initial_location="agent", updates=100_000,
)  # fmt: skip
#: A 55,000-update schedule: x0.97 every 600 updates, so the rate reaches its 1e-4 floor at
#: update 45,600; evaluated on valid every 2,500 updates.
_RAM_SESSION: dict[str, Any] = dict(updates=55_000, lr_decay_every=600, eval_every=2500)
#: A 100,000-update schedule: x0.97 every 1,000 updates (the floor at update 76,000).
_RAM_SESSION_LONG: dict[str, Any] = dict(updates=100_000, lr_decay_every=1000, eval_every=2500)
#: Named presets: the papers' tasks with the replication's optimiser. Each is a set of field
#: values over the :class:`TrainConfig` defaults (Adam 1e-3, x0.97 every 1,750 updates, floor
#: 1e-4, batch 128, location std 0.11, LSTM core); that schedule reaches its floor at update
#: 133,000 (76 decays). ``python -c "from agents.training.presets import preset_config;
#: print(preset_config('NAME'))"`` shows one.
PRESETS: dict[str, dict[str, Any]] = {
    # The README's first command: ram-cluttered60-6g's model and loss on a short schedule.
    "ram-quickstart": dict(
        env_id="ClutteredMNIST-v0",
        updates=3000,
        lr_decay_every=35,
        eval_every=1000,
        final_eval_canvases=2000,
    ),
    # 28x28 centred MNIST, 6 glimpses of one 8x8 patch (Mnih et al. Table 1a), the first
    # glimpse at a uniformly random place.
    "ram-mnist28-6g": dict(**_RAM_SESSION, env_id="MNIST-v0", initial_location="random"),
    # 60x60 translated MNIST, 6 glimpses of 3 scales of 12x12 (Table 1b).
    "ram-translated60-6g": dict(**_RAM_SESSION_LONG, env_id="TranslatedMNIST-v0"),
    # The same with 8 glimpses (Table 1b).
    "ram-translated60-8g": dict(**_RAM_SESSION_LONG, env_id="TranslatedMNIST-v0", num_glimpses=8),
    # 60x60 cluttered MNIST, 4 distractors, 6 glimpses of 3 scales (Table 2a).
    "ram-cluttered60-6g": dict(**_RAM_SESSION_LONG, env_id="ClutteredMNIST-v0"),
    # The same with 8 glimpses (Table 2a), x0.97 every 1,300 updates (the floor at 98,800).
    "ram-cluttered60-8g": {
        **_RAM_SESSION_LONG,
        "lr_decay_every": 1300,
        "env_id": "ClutteredMNIST-v0",
        "num_glimpses": 8,
    },
    # 100x100 cluttered MNIST, 8 distractors, 6 or 8 glimpses of 4 scales (Table 2b), on the
    # default schedule.
    "ram-cluttered100-6g": dict(env_id="ClutteredMNIST100-v0", num_glimpses=6, updates=100_000),
    "ram-cluttered100-8g": dict(env_id="ClutteredMNIST100-v0", updates=100_000),
    # Own images, the worked example: RAM on examples/colour_mnist.py's file of 48x48 RGB
    # canvases (pass --dataset-path); 6 glimpses of 3 scales of 8x8 (8 to 32 pixels).
    "ram-colour-mnist": dict(
        env_id="ClutteredMNIST-v0",
        glimpse_size=8,
        num_scales=3,
        updates=30_000,
        lr_decay_every=400,
        eval_every=1000,
        final_eval_canvases=5000,
    ),
    # DRAM (Ba et al. 2014) in the paper's form (see _DRAM) on the single-digit tasks ...
    "dram-cluttered60-6g": dict(**_DRAM, env_id="ClutteredMNIST-v0"),
    "dram-cluttered100-8g": dict(**_DRAM, env_id="ClutteredMNIST100-v0"),
    # (Not in the paper: the translated task, for the comparison with RAM and the baselines.)
    "dram-translated60-6g": dict(**_DRAM, env_id="TranslatedMNIST-v0"),
    # ... and on its own multi-object tasks: two digits named in reading order, their sum.
    "dram-pairs": dict(**_DRAM, env_id="ClutteredMNISTPairs-v0"),
    "dram-addition": dict(**_DRAM, env_id="MNISTAddition-v0"),
    # L-DRAM: DRAM plus the supervised location loss (all examples labelled; see
    # --location-labels for 1%, 5%, ...), its weight halving every 10,000 updates; on seed
    # 001's 200x200 canvases with 4-50 distractors.
    "ldram-cluttered200var": {
        **_DRAM,
        "context_size": 32,
        "env_id": "ClutteredMNIST200Var-v0",
        "location_loss_weight": 1.0,
        "location_loss_half_life": 10_000.0,
    },
    # DRAM with RAM's glimpse network (see _DRAM_RAM_GLIMPSE).
    "dram-ram-glimpse-cluttered60-6g": dict(**_DRAM_RAM_GLIMPSE, env_id="ClutteredMNIST-v0"),
    "dram-ram-glimpse-cluttered100-6g": dict(
        **_DRAM_RAM_GLIMPSE, env_id="ClutteredMNIST100-v0", num_glimpses=6
    ),
    "dram-ram-glimpse-cluttered100-8g": dict(**_DRAM_RAM_GLIMPSE, env_id="ClutteredMNIST100-v0"),
    "ldram-ram-glimpse-cluttered100-6g": dict(
        **_DRAM_RAM_GLIMPSE,
        env_id="ClutteredMNIST100-v0",
        num_glimpses=6,
        location_loss_weight=1.0,
        location_loss_half_life=10_000.0,
    ),
    # EDRAM (Ablavatski et al. 2017) at the authors' size (agents/models/edram.py): 100x100
    # canvases, 26x26 window, conv 64-64-128-128-160-192, FC 1024, LSTMs 512, classifier 1024;
    # Adam 1e-4 without decay, batch 128, gradient norm clipped at 10, 8 glimpses, 28,000
    # updates (60 epochs of 60,000 canvases).
    "edram-cluttered100": dict(
        agent="edram",
        env_id="ClutteredMNIST100-v0",
        window_size=26,
        conv_channels=64,
        features=1024,
        hidden=512,
        classifier_hidden=1024,
        lr=1e-4,
        min_lr=1e-4,
        lr_decay=1.0,
        max_grad_norm=10.0,
        updates=28_000,
    ),
    # The same architecture sized for a 2-core CPU: conv 8-8-16-16-20-24, FC 256, LSTMs 128,
    # classifier 256; Adam 3e-4 with the default decay (x0.97 every 1,750 updates, floor 1e-4;
    # the authors' rate does not decay), gradient norm clipped at 10 as theirs.
    "edram-cluttered100-small": dict(
        agent="edram",
        env_id="ClutteredMNIST100-v0",
        window_size=26,
        conv_channels=8,
        features=256,
        hidden=128,
        classifier_hidden=256,
        lr=3e-4,
        min_lr=1e-4,
        max_grad_norm=10.0,
        updates=20_000,
    ),
}


def preset_config(name: str, **overrides: Any) -> TrainConfig:
    """The :class:`TrainConfig` of preset ``name`` with ``overrides`` applied.

    Raises:
        ValueError: unknown preset name or unknown field.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; available: {', '.join(sorted(PRESETS))}")
    return TrainConfig.from_dict({**PRESETS[name], "preset": name, **overrides})
