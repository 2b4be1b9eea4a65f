"""The model registry: ``config.agent`` -> a builder of the network.

A new agent is a model file in :mod:`agents.models` plus an entry in :data:`AGENT_BUILDERS` (and,
if it does not learn by the hybrid loss, an objective in
:data:`agents.training.objectives.OBJECTIVES`). The models themselves know nothing of the
configuration; this module reads a :class:`~agents.training.config.TrainConfig` and builds one.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from agents.models.dram import DRAM, DRAMForm
from agents.models.edram import EDRAM, EDRAMSizes
from agents.models.ram import RAM, RAMSizes
from agents.training.config import TrainConfig
from glimpse_env.envs.task import TaskConfig, task_config


def _ram_sizes(config: TrainConfig) -> RAMSizes:
    return RAMSizes(config.glimpse_hidden, config.location_hidden, config.hidden, config.core)


def _task(config: TrainConfig) -> TaskConfig:
    return task_config(**config.task_kwargs())


def build_ram(config: TrainConfig, glimpse_shape: tuple[int, ...]) -> nn.Module:
    return RAM(
        glimpse_shape, _ram_sizes(config), config.reinforce_trains_core, _task(config).num_classes
    )


def build_dram(config: TrainConfig, glimpse_shape: tuple[int, ...]) -> nn.Module:
    task = _task(config)
    if not task.context_size:
        raise ValueError("agent 'dram' needs a coarse view: set context_size (e.g. 24)")
    form = DRAMForm(config.glimpse_network, config.context_layers, config.dram_channels)
    return DRAM(
        glimpse_shape, task.context_size, _ram_sizes(config), config.reinforce_trains_core,
        task.num_classes, form, config.baseline_trains_core,
    )  # fmt: skip


def build_edram(config: TrainConfig, glimpse_shape: tuple[int, ...]) -> nn.Module:
    task = _task(config)
    if len(glimpse_shape) != 3:
        raise ValueError(
            f"agent 'edram' reads grayscale canvases; this task's glimpses are {glimpse_shape} "
            "(k, C, g, g): use RAM or DRAM for colour images"
        )
    if task.num_digits != 1 or task.initial_location == "agent":
        raise ValueError(
            "agent 'edram' plays single-digit tasks with its own first window: got "
            f"num_digits={task.num_digits}, initial_location={task.initial_location!r}"
        )
    sizes = EDRAMSizes(
        config.window_size,
        config.conv_channels,
        config.features,
        config.hidden,
        config.classifier_hidden,
    )
    return EDRAM(config.task_kwargs()["num_glimpses"], sizes, task.num_classes)


#: Model builders by ``config.agent``; a new agent is a model file plus an entry here (and in
#: :data:`agents.training.objectives.OBJECTIVES` if it does not learn by the hybrid loss).
AGENT_BUILDERS: dict[str, Callable[[TrainConfig, tuple[int, ...]], nn.Module]] = {
    "ram": build_ram,
    "dram": build_dram,
    "edram": build_edram,
}


def glimpse_shape(config: TrainConfig) -> tuple[int, ...]:
    """``(k, g, g)``, or ``(k, C, g, g)`` with ``C = config.channels > 1``: the shape of one
    glimpse observation of the config's task."""
    task = config.task_kwargs()
    g = task["glimpse_size"]
    planes = (task["channels"],) if task.get("channels", 1) > 1 else ()
    return (task["num_scales"], *planes, g, g)


def build_agent(config: TrainConfig, glimpse_shape: tuple[int, ...]) -> nn.Module:
    """The model of ``config.agent``, initialised from ``config.seed`` without touching the
    global RNG."""
    if config.agent not in AGENT_BUILDERS:
        raise ValueError(f"unknown agent {config.agent!r}; known: {sorted(AGENT_BUILDERS)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return AGENT_BUILDERS[config.agent](config, glimpse_shape)


def state_shapes(config: TrainConfig, glimpse_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """The shape of every tensor of the model ``config`` builds, found on the ``meta`` device:
    nothing is allocated, so a file's tensors can be checked against its config before a model
    of a size the file claims is built."""
    with torch.device("meta"):
        model = build_agent(config, glimpse_shape)
    return {name: tuple(value.shape) for name, value in model.state_dict().items()}
