"""Supervised full-canvas baselines: what a network that reads every pixel achieves.

Two families, both mapping a whole canvas ``(N, C, H, W)`` in [0, 1] to answer logits
``(N, A, C)`` (``A`` answers per canvas, ``C`` classes; ``A = 1, C = 10`` on the single-digit
tasks):

- :class:`FullCanvasFC`: two hidden ReLU layers over the flattened canvas (the RAM paper's
  "FC, 2 layers" baselines).
- :class:`FullCanvasCNN`: a small conv net (5x5 stride-2 conv, max-pool, 3x3 conv, max-pool,
  3x3 conv, each with batch norm and ReLU; a 3x3 adaptive max-pool keeps coarse position for the
  multi-digit tasks' reading order; one hidden FC layer).

The named sizes (:data:`BASELINES`) are ``fc`` and ``cnn``, each matched in parameter count to
the RAM agent of the same task (:func:`ram_parameters`), and ``cnn-large``, the CNN at twice the
matched width: the strongest non-attention reference here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from agents.compute import forward_multiply_adds

#: The named baselines.
BASELINES = ("fc", "cnn", "cnn-large")
#: Hidden units of the CNN's FC layer (all sizes).
CNN_HIDDEN = 256
#: ``cnn-large`` is the CNN at this multiple of the matched width.
LARGE_WIDTH_FACTOR = 2


@dataclass(frozen=True)
class Answers:
    """What a task asks of a canvas: ``count`` answers of ``classes`` classes each."""

    count: int
    classes: int


class FullCanvasFC(nn.Module):
    """Flattened canvas -> ``hidden`` -> ``hidden`` -> ``A * C`` logits (ReLU between).

    Args:
        canvas_shape: ``(C, H, W)``: channels and pixels.
        hidden: units of each hidden layer.
        answers: answers per canvas and classes per answer.
    """

    def __init__(self, canvas_shape: tuple[int, int, int], hidden: int, answers: Answers) -> None:
        super().__init__()
        channels, height, width = canvas_shape
        self.answers = answers
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * height * width, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, answers.count * answers.classes),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` float in [0, 1] -> ``(N, A, classes)`` logits."""
        return self.net(images).view(-1, self.answers.count, self.answers.classes)


class FullCanvasCNN(nn.Module):
    """Conv ``width`` (5x5, stride 2) -> max-pool 2 -> conv ``2 width`` (3x3) -> max-pool 2 ->
    conv ``4 width`` (3x3) -> adaptive max-pool 3x3 -> FC ``hidden`` -> ``A * C`` logits.

    Every conv is followed by batch norm and ReLU. The canvas side must be at least 20 pixels.

    Args:
        width: channels of the first conv layer.
        hidden: units of the FC layer.
        answers: answers per canvas and classes per answer.
        channels: ``C`` of the input canvases.
    """

    def __init__(self, width: int, hidden: int, answers: Answers, channels: int = 1) -> None:
        super().__init__()
        self.answers = answers

        def block(c_in: int, c_out: int, kernel: int, stride: int) -> list[nn.Module]:
            conv = nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2, bias=False)
            return [conv, nn.BatchNorm2d(c_out), nn.ReLU()]

        self.features = nn.Sequential(
            *block(channels, width, 5, 2),
            nn.MaxPool2d(2),
            *block(width, 2 * width, 3, 1),
            nn.MaxPool2d(2),
            *block(2 * width, 4 * width, 3, 1),
            nn.AdaptiveMaxPool2d(3),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(4 * width * 9, hidden),
            nn.ReLU(),
            nn.Linear(hidden, answers.count * answers.classes),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` float in [0, 1] -> ``(N, A, classes)`` logits."""
        return self.head(self.features(images)).view(-1, self.answers.count, self.answers.classes)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _closest_width(build: Callable[[int], nn.Module], target: int, low: int, high: int) -> int:
    """The width in ``low..high`` whose model's parameter count is closest to ``target``
    (parameter counts grow with width, so a bisection finds the crossing)."""
    while high - low > 1:
        mid = (low + high) // 2
        if count_parameters(build(mid)) < target:
            low = mid
        else:
            high = mid
    below, above = count_parameters(build(low)), count_parameters(build(high))
    return low if target - below <= above - target else high


def matched_fc_hidden(canvas_shape: tuple[int, int, int], answers: Answers, target: int) -> int:
    """Hidden units of the :class:`FullCanvasFC` whose parameter count is closest to
    ``target``."""
    return _closest_width(lambda h: FullCanvasFC(canvas_shape, h, answers), target, 1, 8192)


def matched_cnn_width(
    answers: Answers, target: int, hidden: int = CNN_HIDDEN, channels: int = 1
) -> int:
    """First-layer channels of the :class:`FullCanvasCNN` on ``channels``-channel canvases
    whose parameter count is closest to ``target``."""
    return _closest_width(lambda w: FullCanvasCNN(w, hidden, answers, channels), target, 1, 1024)


def build_baseline(
    name: str, canvas_shape: tuple[int, int, int], answers: Answers, matched_parameters: int
) -> tuple[nn.Module, dict[str, int]]:
    """The baseline ``name`` (one of :data:`BASELINES`) sized against ``matched_parameters``.

    Returns:
        ``(model, sizes)``: the (freshly initialised) network and the sizes chosen
        (``{"hidden": h}`` or ``{"width": w, "hidden": h}``), recorded so the model can be
        rebuilt with :func:`build_sized`.
    """
    if name == "fc":
        sizes = {"hidden": matched_fc_hidden(canvas_shape, answers, matched_parameters)}
    elif name in ("cnn", "cnn-large"):
        width = matched_cnn_width(answers, matched_parameters, channels=canvas_shape[0])
        factor = LARGE_WIDTH_FACTOR if name == "cnn-large" else 1
        sizes = {"width": width * factor, "hidden": CNN_HIDDEN}
    else:
        raise ValueError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}")
    return build_sized(name, canvas_shape, answers, sizes), sizes


def build_sized(
    name: str, canvas_shape: tuple[int, int, int], answers: Answers, sizes: dict[str, int]
) -> nn.Module:
    """Rebuild baseline ``name`` with recorded ``sizes`` (see :func:`build_baseline`) for
    canvases of ``canvas_shape`` ``(C, H, W)``."""
    if min(canvas_shape[1:]) < 20:
        raise ValueError(f"canvases must be at least 20x20 pixels, got {canvas_shape[1:]}")
    if name == "fc":
        return FullCanvasFC(canvas_shape, int(sizes["hidden"]), answers)
    if name in ("cnn", "cnn-large"):
        return FullCanvasCNN(int(sizes["width"]), int(sizes["hidden"]), answers, canvas_shape[0])
    raise ValueError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}")


def multiply_adds(model: nn.Module, example: torch.Tensor) -> int:
    """Multiply-adds of one forward pass per input, counted in the conv and linear layers
    (:func:`agents.compute.forward_multiply_adds`)."""
    return forward_multiply_adds(model, example)
