"""EDRAM: the Enriched Deep Recurrent Visual Attention Model (Ablavatski, Lu, Cai 2017).

Attention is a spatial transformer (:func:`glimpse_env.affine_sensor.affine_glimpse`): each
glimpse is an affine sample of the canvas with six parameters ``theta = (a, b, tx, c, d, ty)``,
differentiable in ``theta``, so the whole model trains by backpropagation, without REINFORCE.

Per step ``t = 1 .. T``:

1. glimpse ``x_t = affine_glimpse(canvas, theta_t, window)`` (``theta_1`` is the identity: the
   whole canvas at ``window x window``);
2. glimpse network: a convolutional encoder with batch normalisation of ``x_t`` (the "what")
   times an FC embedding of ``theta_t`` (the "where");
3. encoder LSTM over the glimpse vectors; class logits from its state through FC
   ``classifier_hidden`` (1024 in the paper) -> 10;
4. decoder LSTM over the encoder's state; emits ``theta_{t+1}`` through a linear layer whose
   weights start at zero and bias at the identity ``(1, 0, 0, 0, 1, 0)``.

Loss (:func:`edram_loss`): cross-entropy at every step + a weighted squared error of every
emitted ``theta`` to the ground-truth affine of the digit (weights ``(1, 0.5, 1, 0.5, 1, 1)``), the
ground truth being the canvas box as ``(sx, 0, tx, 0, sy, ty)`` (the ``locations`` field of the
``mnist_cluttered.hdf5`` files; :func:`glimpse_env.data.canvas.bboxes_to_affine`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from glimpse_env.affine_sensor import IDENTITY, affine_glimpse
from glimpse_env.envs.core import NUM_CLASSES

#: Weights of the six affine parameters in the location regression (the authors' choice).
AFFINE_WEIGHTS = (1.0, 0.5, 1.0, 0.5, 1.0, 1.0)


@dataclass(frozen=True)
class EDRAMSizes:
    """EDRAM's sizes: the paper's are the defaults.

    Attributes:
        window: side of the attention window in pixels (26 for 100x100 canvases).
        channels: channels of the first two conv layers (the last two have twice as many).
        features: glimpse-vector size ("what" and "where" embeddings).
        hidden: units of the encoder and of the decoder LSTM.
        classifier_hidden: the FC layer of the classification head.
    """

    window: int = 26
    channels: int = 64
    features: int = 1024
    hidden: int = 512
    classifier_hidden: int = 1024


class GlimpseEncoder(nn.Module):
    """``(N, window, window)`` glimpse -> ``(N, features)``: four 3x3 conv layers with batch
    normalisation and ReLU (``c, c, 2c, 2c`` channels, max-pool 2 after the 2nd and 4th), FC."""

    def __init__(self, sizes: EDRAMSizes) -> None:
        super().__init__()
        c = sizes.channels
        layers: list[nn.Module] = []
        for i, (cin, cout) in enumerate([(1, c), (c, c), (c, 2 * c), (2 * c, 2 * c)]):
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]
            if i in (1, 3):
                layers.append(nn.MaxPool2d(2))
        self.conv = nn.Sequential(*layers)
        side = sizes.window // 2 // 2
        self.fc = nn.Linear(2 * c * side * side, sizes.features)

    def forward(self, glimpse: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc(self.conv(glimpse.unsqueeze(1)).flatten(1)))


@dataclass
class EDRAMOutput:
    """One forward pass over ``T`` steps.

    Attributes:
        logits: ``(N, T, 10)`` class logits after each glimpse.
        thetas: ``(N, T, 6)`` the parameters of each glimpse taken (the first is the identity).
        emitted: ``(N, T, 6)`` the parameters emitted after each glimpse (the last one unused
            for sampling; all are regressed to the ground truth).
    """

    logits: torch.Tensor
    thetas: torch.Tensor
    emitted: torch.Tensor


class EDRAM(nn.Module):
    """EDRAM over canvases ``(N, H, W)`` for ``steps`` glimpses (see the module docstring)."""

    def __init__(self, steps: int, sizes: EDRAMSizes | None = None) -> None:
        super().__init__()
        self.sizes = sizes = sizes or EDRAMSizes()
        if sizes.window < 4:
            raise ValueError(f"window must be >= 4 pixels, got {sizes.window}")
        self.steps = steps
        self.encoder_net = GlimpseEncoder(sizes)
        self.where = nn.Linear(6, sizes.features)
        self.encoder = nn.LSTMCell(sizes.features, sizes.hidden)
        self.decoder = nn.LSTMCell(sizes.hidden, sizes.hidden)
        self.classifier = nn.Sequential(
            nn.Linear(sizes.hidden, sizes.classifier_hidden),
            nn.ReLU(),
            nn.Linear(sizes.classifier_hidden, NUM_CLASSES),
        )
        self.emission = nn.Linear(sizes.hidden, 6)
        nn.init.zeros_(self.emission.weight)
        with torch.no_grad():
            self.emission.bias.copy_(torch.tensor(IDENTITY))

    def forward(self, canvases: torch.Tensor) -> EDRAMOutput:
        """Run ``steps`` glimpses over ``(N, H, W)`` canvases (uint8 or float intensities)."""
        n, device = canvases.shape[0], canvases.device
        hidden = self.sizes.hidden
        h1 = c1 = h2 = c2 = torch.zeros(n, hidden, device=device)
        theta = torch.tensor(IDENTITY, device=device).expand(n, 6)
        logits, thetas, emitted = [], [], []
        for _ in range(self.steps):
            glimpse = affine_glimpse(canvases, theta, self.sizes.window)
            g = self.encoder_net(glimpse) * F.relu(self.where(theta))
            h1, c1 = self.encoder(g, (h1, c1))
            h2, c2 = self.decoder(h1, (h2, c2))
            thetas.append(theta)
            logits.append(self.classifier(h1))
            theta = self.emission(h2)
            emitted.append(theta)
        return EDRAMOutput(torch.stack(logits, 1), torch.stack(thetas, 1), torch.stack(emitted, 1))


def edram_loss(
    output: EDRAMOutput,
    labels: torch.Tensor,
    target_affine: torch.Tensor,
    affine_weight: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(total, classification, location)``: cross-entropy averaged over every step, and the
    weighted squared error of every emitted ``theta`` to ``target_affine`` ``(N, 6)``."""
    n, steps, _ = output.logits.shape
    classification = F.cross_entropy(
        output.logits.reshape(n * steps, -1), labels.repeat_interleave(steps)
    )
    weights = torch.tensor(AFFINE_WEIGHTS, device=output.emitted.device)
    squared = (output.emitted - target_affine.unsqueeze(1)).pow(2) * weights
    location = squared.sum(-1).mean()
    return classification + affine_weight * location, classification, location
