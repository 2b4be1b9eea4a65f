"""The Recurrent Attention Model (Mnih, Heess, Graves, Kavukcuoglu 2014).

Sizes follow the published replications: glimpse ``(k*g*g)`` -> FC 128 -> FC 256 and location
``(2)`` -> FC 128 -> FC 256, summed and rectified; an LSTM core of 256 units (or the paper's
rectified vanilla RNN); location, classification and baseline heads on the hidden state.

The model does not step the environment itself: :func:`agents.training.rollout.rollout` feeds it the
observations of a :class:`glimpse_env.GlimpseVectorEnv` one step at a time through the
:class:`agents.training.rollout.AttentionAgent` interface that every REINFORCE-trained agent here
has.

Locations are normalised ``(x, y)`` in ``[-1, 1]``, ``(-1, -1)`` the canvas's top-left corner
(the convention of :mod:`glimpse_env.retina`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from glimpse_env.envs.task import NUM_CLASSES

CORES = ("lstm", "rnn")


@dataclass(frozen=True)
class RAMSizes:
    """Layer sizes of :class:`RAM` (units).

    Attributes:
        glimpse_hidden: first FC layer of the glimpse ("what") pathway.
        location_hidden: first FC layer of the location ("where") pathway.
        hidden: glimpse-vector size and core state size.
        core: ``"lstm"`` (default, as the replications) or ``"rnn"`` (the paper's rectifier core
            ``h_t = relu(W_h h_{t-1} + W_g g_t)``).
    """

    glimpse_hidden: int = 128
    location_hidden: int = 128
    hidden: int = 256
    core: str = "lstm"


class GlimpseNetwork(nn.Module):
    """``g_t = relu(FC(relu(FC(glimpse))) + FC(relu(FC(location))))``.

    Input: glimpse ``(N, k, g, g)`` (or ``(N, k, C, g, g)``) intensities in [0, 1] and
    location ``(N, location_dim)`` normalised (x, y) (``location_dim`` is 2, or a multiple of 2
    for stacked observations).
    Output: ``(N, hidden)``.
    """

    def __init__(self, glimpse_dim: int, sizes: RAMSizes, location_dim: int = 2) -> None:
        super().__init__()
        self.what1 = nn.Linear(glimpse_dim, sizes.glimpse_hidden)
        self.what2 = nn.Linear(sizes.glimpse_hidden, sizes.hidden)
        self.where1 = nn.Linear(location_dim, sizes.location_hidden)
        self.where2 = nn.Linear(sizes.location_hidden, sizes.hidden)

    def forward(self, glimpse: torch.Tensor, location: torch.Tensor) -> torch.Tensor:
        what = self.what2(F.relu(self.what1(glimpse.flatten(1))))
        where = self.where2(F.relu(self.where1(location)))
        return F.relu(what + where)


class RectifierRNNCell(nn.Module):
    """The paper's core: ``h_t = relu(W_h h_{t-1} + W_g g_t + b)``."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input = nn.Linear(input_size, hidden_size)
        self.recurrent = nn.Linear(hidden_size, hidden_size, bias=False)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return F.relu(self.input(x) + self.recurrent(h))


@dataclass
class CoreState:
    """Recurrent state: ``h`` ``(N, hidden)``; ``c`` the LSTM cell ``(N, hidden)`` or None."""

    h: torch.Tensor
    c: torch.Tensor | None = None


class RAM(nn.Module):
    """Recurrent Attention Model.

    Args:
        glimpse_shape: ``(k, g, g)`` of one observation's glimpse, or ``(k, C, g, g)`` with
            ``C`` channels (colour): the glimpse network reads it flattened.
        sizes: layer sizes and core type.
        reinforce_trains_core: if False (default, as most replications) the location head reads
            the detached hidden state, so the REINFORCE term trains only the location network;
            if True its gradient also flows into the core and the glimpse network.
        num_classes: outputs of the classifier (10 digits; 19 sums of two digits).
    """

    def __init__(
        self,
        glimpse_shape: tuple[int, ...],
        sizes: RAMSizes = RAMSizes(),
        reinforce_trains_core: bool = False,
        num_classes: int = NUM_CLASSES,
    ) -> None:
        super().__init__()
        if sizes.core not in CORES:
            raise ValueError(f"core must be one of {CORES}, got {sizes.core!r}")
        if len(glimpse_shape) not in (3, 4):
            raise ValueError(
                f"glimpse_shape must be (k, g, g) or (k, C, g, g), got {glimpse_shape}"
            )
        self.glimpse_shape = tuple(glimpse_shape)
        self.sizes = sizes
        self.reinforce_trains_core = reinforce_trains_core
        self.glimpse_net = GlimpseNetwork(math.prod(glimpse_shape), sizes)
        if sizes.core == "lstm":
            self.core: nn.Module = nn.LSTMCell(sizes.hidden, sizes.hidden)
        else:
            self.core = RectifierRNNCell(sizes.hidden, sizes.hidden)
        self.location_head = nn.Linear(sizes.hidden, 2)
        self.classifier = nn.Linear(sizes.hidden, num_classes)
        self.baseline_head = nn.Linear(sizes.hidden, 1)

    # ---- the AttentionAgent interface (see agents.training.rollout) ------------------------------
    def initial_state(self, observation: dict[str, torch.Tensor]) -> CoreState:
        """Zero state for the episodes of the first ``observation`` (only its size is used)."""
        glimpse = observation["glimpse"]
        zeros = torch.zeros(glimpse.shape[0], self.sizes.hidden, device=glimpse.device)
        return CoreState(zeros, zeros.clone() if self.sizes.core == "lstm" else None)

    def observe(self, glimpse: torch.Tensor, location: torch.Tensor, state: CoreState) -> CoreState:
        """Take in one observation: glimpse ``(N, k, g, g)`` (or ``(N, k, C, g, g)``) seen at
        location ``(N, 2)``."""
        g = self.glimpse_net(glimpse, location)
        if state.c is not None:
            h, c = self.core(g, (state.h, state.c))
            return CoreState(h, c)
        return CoreState(self.core(g, state.h))

    def location_mean(self, state: CoreState) -> torch.Tensor:
        """``(N, 2)`` mean of the next location, in (-1, 1) (tanh)."""
        h = state.h if self.reinforce_trains_core else state.h.detach()
        return torch.tanh(self.location_head(h))

    def baseline(self, state: CoreState) -> torch.Tensor:
        """``(N,)`` expected reward, from the detached hidden state (trained by MSE only)."""
        return self.baseline_head(state.h.detach()).squeeze(-1)

    def classify(self, state: CoreState) -> torch.Tensor:
        """``(N, num_classes)`` class logits from the last hidden state."""
        return self.classifier(state.h)
