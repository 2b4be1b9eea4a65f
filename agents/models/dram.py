"""The Deep Recurrent Attention Model (Ba, Mnih, Kavukcuoglu 2014), for single-digit tasks.

Two stacked LSTM layers: the bottom one integrates glimpses and classifies; the top one reads
the bottom one's state and emits the locations. A context network looks at a coarse view of the
whole canvas (the environment's ``"context"`` observation, ``TaskConfig.context_size``) and
initialises the top layer, so the first choice of location is already informed by the canvas.

Glimpse and location networks, heads and the hybrid loss are those of :mod:`agents.models.ram`; DRAM
trains through the same :mod:`agents.training.trainer`.

Gradient routing: the top layer and the context network exist to emit locations, so the
REINFORCE gradient always trains them (and the location head). ``reinforce_trains_core``
decides whether it also flows down into the bottom layer and the glimpse network (default: no,
the top layer reads the bottom layer's state detached), as RAM's option does.

One difference from the paper: its first glimpse is taken where the context-initialised top
layer points; here the first glimpse is the environment's reset observation (at the centre), and
the top layer chooses every glimpse after it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from agents.models.ram import NUM_CLASSES, GlimpseNetwork, RAMSizes


class ContextNetwork(nn.Module):
    """Coarse canvas ``(N, c, c)`` -> ``(N, hidden)``: conv 5x5 (32) -> max-pool 2 ->
    conv 3x3 (32) -> max-pool 2 -> FC ``hidden``, ReLU after each."""

    def __init__(self, context_size: int, hidden: int, channels: int = 32) -> None:
        super().__init__()
        if context_size < 4:
            raise ValueError(f"the context network needs context_size >= 4, got {context_size}")
        self.conv1 = nn.Conv2d(1, channels, 5, padding=2)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        side = context_size // 2 // 2
        self.fc = nn.Linear(channels * side * side, hidden)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(context.unsqueeze(1))), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return F.relu(self.fc(x.flatten(1)))


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
    """

    def __init__(
        self,
        glimpse_shape: tuple[int, int, int],
        context_size: int,
        sizes: RAMSizes | None = None,
        reinforce_trains_core: bool = False,
    ) -> None:
        super().__init__()
        sizes = sizes or RAMSizes()
        if sizes.core != "lstm":
            raise ValueError(f"DRAM's layers are LSTMs; core must be 'lstm', got {sizes.core!r}")
        k, g, g2 = glimpse_shape
        self.sizes = sizes
        self.context_size = context_size
        self.reinforce_trains_core = reinforce_trains_core
        self.glimpse_net = GlimpseNetwork(k * g * g2, sizes)
        self.bottom = nn.LSTMCell(sizes.hidden, sizes.hidden)
        self.top = nn.LSTMCell(sizes.hidden, sizes.hidden)
        self.context_net = ContextNetwork(context_size, sizes.hidden)
        self.location_head = nn.Linear(sizes.hidden, 2)
        self.classifier = nn.Linear(sizes.hidden, NUM_CLASSES)
        self.baseline_head = nn.Linear(sizes.hidden, 1)

    def initial_state(self, observation: dict[str, torch.Tensor]) -> DRAMState:
        """Bottom layer at zero; top layer's hidden state from the context network."""
        if "context" not in observation:
            raise ValueError(
                "DRAM needs the coarse view: make the env with context_size="
                f"{self.context_size} (observation has {sorted(observation)})"
            )
        context = observation["context"]
        if tuple(context.shape[1:]) != (self.context_size, self.context_size):
            raise ValueError(
                f"context must be (N, {self.context_size}, {self.context_size}), "
                f"got {tuple(context.shape)}"
            )
        zeros = torch.zeros(context.shape[0], self.sizes.hidden, device=context.device)
        return DRAMState(zeros, zeros.clone(), self.context_net(context), zeros.clone())

    def observe(self, glimpse: torch.Tensor, location: torch.Tensor, state: DRAMState) -> DRAMState:
        """Take in one glimpse ``(N, k, g, g)`` seen at ``(N, 2)``."""
        g = self.glimpse_net(glimpse, location)
        h1, c1 = self.bottom(g, (state.h1, state.c1))
        up = h1 if self.reinforce_trains_core else h1.detach()
        h2, c2 = self.top(up, (state.h2, state.c2))
        return DRAMState(h1, c1, h2, c2)

    def location_mean(self, state: DRAMState) -> torch.Tensor:
        """``(N, 2)`` next-location mean from the top layer, in (-1, 1)."""
        return torch.tanh(self.location_head(state.h2))

    def baseline(self, state: DRAMState) -> torch.Tensor:
        """``(N,)`` expected reward from the detached top state (trained by its MSE only)."""
        return self.baseline_head(state.h2.detach()).squeeze(-1)

    def classify(self, state: DRAMState) -> torch.Tensor:
        """``(N, 10)`` class logits from the bottom layer."""
        return self.classifier(state.h1)
