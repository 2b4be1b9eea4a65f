"""The Deep Recurrent Attention Model (Ba, Mnih, Kavukcuoglu 2014).

Two stacked LSTM layers: the bottom one integrates glimpses and classifies; the top one reads
the bottom one's state and emits the locations. A context network looks at a coarse view of the
whole canvas (the environment's ``"context"`` observation, ``TaskConfig.context_size``) and
initialises the top layer, so the first choice of location is already informed by the canvas.
With several digits named in sequence the classifier answers after each digit's glimpses.

Two forms, chosen by :class:`DRAMForm`:

- **the paper's** (``glimpse_network="conv"``, ``context_layers=3``, with the env's
  ``initial_location="agent"``): a convolutional "what" pathway on the glimpse multiplied
  element-wise with a "where" pathway on its location, ``g = relu(G_image(x)) * relu(G_loc(l))``;
  a 3-layer convolutional context network; the first glimpse taken where the context-initialised
  top layer points;
- **RAM's glimpse network** (``glimpse_network="fc"``, ``context_layers=2``): RAM's additive
  fully-connected glimpse network (:class:`agents.models.ram.GlimpseNetwork`), a 2-layer
  context network and the env's fixed first glimpse (the ``dram-ram-glimpse-*`` presets, as this
  project first built DRAM).

Heads and the hybrid loss are those of :mod:`agents.models.ram`; DRAM trains through the same
:mod:`agents.training.trainer`.

Gradient routing: the top layer and the context network exist to emit locations, so the
REINFORCE gradient always trains them (and the location head). ``reinforce_trains_core``
decides whether it also flows down into the bottom layer and the glimpse network (default: no,
the top layer reads the bottom layer's state detached), as RAM's option does.
``baseline_trains_core`` lets the baseline's regression loss into the top layer and the context
network (default: no, the baseline head reads the top state detached), so the context network
also learns to predict the reward from the coarse view; with ``reinforce_trains_core`` it also
reaches the bottom layer, as in PrincipalComponent/ram's DRAM.

Sizes are this project's (CPU-sized), not the paper's: its glimpse network had 3 conv layers
of 64-64-128 5x5/3x3 filters and 1024-unit pathways, its LSTMs 512 units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from agents.models.ram import NUM_CLASSES, GlimpseNetwork, RAMSizes
from glimpse_env.checks import check_int

GLIMPSE_NETWORKS = ("fc", "conv")


@dataclass(frozen=True)
class DRAMForm:
    """Which DRAM (see the module docstring).

    Attributes:
        glimpse_network: ``"conv"`` (the paper's multiplicative conv x location network) or
            ``"fc"`` (RAM's additive fully-connected one).
        context_layers: conv layers of the context network, 2 or 3 (the paper's).
        conv_channels: channels of the first conv layers of both networks (the last has twice).
    """

    glimpse_network: str = "fc"
    context_layers: int = 2
    conv_channels: int = 32

    def __post_init__(self) -> None:
        if self.glimpse_network not in GLIMPSE_NETWORKS:
            raise ValueError(
                f"glimpse_network must be one of {GLIMPSE_NETWORKS}, got {self.glimpse_network!r}"
            )
        if self.context_layers not in (2, 3):
            raise ValueError(f"context_layers must be 2 or 3, got {self.context_layers!r}")
        check_int("conv_channels", self.conv_channels)


class ContextNetwork(nn.Module):
    """Coarse canvas ``(N, c, c)`` (or ``(N, C_in, c, c)`` in colour) -> ``(N, hidden)``:
    conv 5x5 (C) -> max-pool 2 -> conv 3x3 (C) -> max-pool 2 [-> conv 3x3 (2C), the third
    layer] -> FC ``hidden``, ReLU after each ("same" padding)."""

    def __init__(
        self,
        context_size: int,
        hidden: int,
        channels: int = 32,
        layers: int = 2,
        in_channels: int = 1,
    ):
        super().__init__()
        if context_size < 4:
            raise ValueError(f"the context network needs context_size >= 4, got {context_size}")
        self.conv1 = nn.Conv2d(in_channels, channels, 5, padding=2)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv3 = nn.Conv2d(channels, 2 * channels, 3, padding=1) if layers == 3 else None
        side = context_size // 2 // 2
        out = (2 * channels if layers == 3 else channels) * side * side
        self.fc = nn.Linear(out, hidden)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        x = context.unsqueeze(1) if context.ndim == 3 else context
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        if self.conv3 is not None:
            x = F.relu(self.conv3(x))
        return F.relu(self.fc(x.flatten(1)))


class ConvGlimpseNetwork(nn.Module):
    """The paper's glimpse network: ``g = relu(FC(conv(glimpse))) * relu(FC(location))``.

    "What": the ``k`` scales of a glimpse ``(N, k, g, g)`` as ``k`` input channels (``k * C``
    for a ``C``-channel glimpse ``(N, k, C, g, g)``); conv 3x3 (``channels``) -> conv 3x3
    (``channels``) -> max-pool 2 -> conv 3x3 (``2 * channels``, no padding) -> FC ``hidden``,
    ReLU after each. "Where": location ``(N, 2)`` -> FC ``hidden`` -> ReLU. Output ``(N, hidden)``.
    """

    def __init__(self, glimpse_shape: tuple[int, ...], hidden: int, channels: int = 32):
        super().__init__()
        g, g2 = glimpse_shape[-2:]
        if g != g2 or g < 6:
            raise ValueError(f"the conv glimpse network needs square glimpses >= 6, got {g}x{g2}")
        self.conv1 = nn.Conv2d(math.prod(glimpse_shape[:-2]), channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv3 = nn.Conv2d(channels, 2 * channels, 3)
        side = g // 2 - 2
        self.what = nn.Linear(2 * channels * side * side, hidden)
        self.where = nn.Linear(2, hidden)

    def forward(self, glimpse: torch.Tensor, location: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv2(F.relu(self.conv1(glimpse.flatten(1, -3)))))
        x = F.relu(self.conv3(F.max_pool2d(x, 2)))
        return F.relu(self.what(x.flatten(1))) * F.relu(self.where(location))


@dataclass
class DRAMState:
    """Bottom layer ``(h1, c1)`` and top layer ``(h2, c2)``, each ``(N, hidden)``."""

    h1: torch.Tensor
    c1: torch.Tensor
    h2: torch.Tensor
    c2: torch.Tensor


class DRAM(nn.Module):
    """Deep Recurrent Attention Model.

    Args:
        glimpse_shape: ``(k, g, g)`` of one glimpse.
        context_size: side of the coarse canvas view the context network reads.
        sizes: glimpse-network and LSTM sizes (default :class:`RAMSizes`; ``core`` must be
            ``"lstm"``).
        reinforce_trains_core: let the REINFORCE gradient into the bottom layer and the glimpse
            network too (see the module docstring).
        baseline_trains_core: let the baseline's loss into the top layer and the context network
            (see the module docstring).
        num_classes: outputs of the classifier (10 digits; 19 sums of two digits).
        form: the paper's networks or RAM's glimpse network (:class:`DRAMForm`).
    """

    def __init__(
        self,
        glimpse_shape: tuple[int, ...],
        context_size: int,
        sizes: RAMSizes | None = None,
        reinforce_trains_core: bool = False,
        num_classes: int = NUM_CLASSES,
        form: DRAMForm | None = None,
        baseline_trains_core: bool = False,
    ) -> None:
        super().__init__()
        sizes = sizes or RAMSizes()
        if sizes.core != "lstm":
            raise ValueError(f"DRAM's layers are LSTMs; core must be 'lstm', got {sizes.core!r}")
        form = form or DRAMForm()
        #: Channels of the canvas (and of the context view): ``C`` of a ``(k, C, g, g)`` glimpse.
        self.channels = glimpse_shape[1] if len(glimpse_shape) == 4 else 1
        self.sizes = sizes
        self.form = form
        self.context_size = context_size
        self.reinforce_trains_core = reinforce_trains_core
        self.baseline_trains_core = baseline_trains_core
        if form.glimpse_network == "conv":
            self.glimpse_net: nn.Module = ConvGlimpseNetwork(
                glimpse_shape, sizes.hidden, form.conv_channels
            )
        else:
            self.glimpse_net = GlimpseNetwork(math.prod(glimpse_shape), sizes)
        self.bottom = nn.LSTMCell(sizes.hidden, sizes.hidden)
        self.top = nn.LSTMCell(sizes.hidden, sizes.hidden)
        self.context_net = ContextNetwork(
            context_size, sizes.hidden, form.conv_channels, form.context_layers, self.channels
        )
        self.location_head = nn.Linear(sizes.hidden, 2)
        self.classifier = nn.Linear(sizes.hidden, num_classes)
        self.baseline_head = nn.Linear(sizes.hidden, 1)

    def initial_state(self, observation: dict[str, torch.Tensor]) -> DRAMState:
        """Bottom layer at zero; top layer's hidden state from the context network."""
        if "context" not in observation:
            raise ValueError(
                "DRAM needs the coarse view: make the env with context_size="
                f"{self.context_size} (observation has {sorted(observation)})"
            )
        context = observation["context"]
        planes = (self.channels,) if self.channels > 1 else ()
        expected = (*planes, self.context_size, self.context_size)
        if tuple(context.shape[1:]) != expected:
            raise ValueError(
                f"context must be (N, {', '.join(map(str, expected))}), got {tuple(context.shape)}"
            )
        zeros = torch.zeros(context.shape[0], self.sizes.hidden, device=context.device)
        return DRAMState(zeros, zeros.clone(), self.context_net(context), zeros.clone())

    def observe(self, glimpse: torch.Tensor, location: torch.Tensor, state: DRAMState) -> DRAMState:
        """Take in one glimpse ``(N, k, g, g)`` (or ``(N, k, C, g, g)``) seen at ``(N, 2)``."""
        g = self.glimpse_net(glimpse, location)
        h1, c1 = self.bottom(g, (state.h1, state.c1))
        up = h1 if self.reinforce_trains_core else h1.detach()
        h2, c2 = self.top(up, (state.h2, state.c2))
        return DRAMState(h1, c1, h2, c2)

    def location_mean(self, state: DRAMState) -> torch.Tensor:
        """``(N, 2)`` next-location mean from the top layer, in (-1, 1)."""
        return torch.tanh(self.location_head(state.h2))

    def baseline(self, state: DRAMState) -> torch.Tensor:
        """``(N,)`` expected reward from the top state, detached unless ``baseline_trains_core``."""
        h2 = state.h2 if self.baseline_trains_core else state.h2.detach()
        return self.baseline_head(h2).squeeze(-1)

    def classify(self, state: DRAMState) -> torch.Tensor:
        """``(N, num_classes)`` class logits from the bottom layer."""
        return self.classifier(state.h1)
