"""EDRAM: the Enriched Deep Recurrent Visual Attention Model (Ablavatski, Lu, Cai 2017).

Attention is a spatial transformer (:func:`glimpse_env.affine_sensor.affine_glimpse`): each
glimpse is an affine sample of the canvas with six parameters ``theta = (a, b, tx, c, d, ty)``,
differentiable in ``theta``, so the whole model trains by backpropagation, without REINFORCE.

The layers follow the authors' code (``ablavatski/EDRAM``: ``train_mnist_cluttered.py``,
``model.py``, ``recurrent_bn.py``); ``c`` is :attr:`EDRAMSizes.channels` (64 for the authors):

- **context network** on a 12 x 12 coarse view of the canvas: conv 5x5 (``hidden/32``
  channels), conv 3x3 (``hidden/32``), conv 3x3 (``hidden/16``), all 'valid', each followed by
  batch normalisation and no non-linearity (as the authors' ``conv_init``). Flattened
  (4 x 4 x ``hidden/16`` = ``hidden``), it is the decoder's initial hidden state, and the
  emission of that state is the first glimpse;
- **"what"**: conv 3x3 ``c`` 'same', 3x3 ``c`` 'valid', max-pool 2; 3x3 ``2c``, 3x3 ``2c`` (both
  'same'), max-pool 2; 3x3 ``5c/2`` 'same', 3x3 ``3c`` 'valid'. Each conv is followed by batch
  normalisation and ReLU. Then FC -> ``features``, batch normalisation, ReLU. For a 26-pixel
  window that is 4 x 4 x 192 = 3072 -> 1024;
- **"where"**: FC 6 -> ``features``, batch normalisation, ReLU. The glimpse vector is
  what x where;
- **encoder LSTM** (``hidden``) over the glimpse vectors. The classifier reads its state
  through FC ``classifier_hidden``, BN, ReLU, FC ``classifier_hidden``, BN, ReLU, FC 10;
- **decoder LSTM** (``hidden``) over the encoder's state. The emission is
  ``theta = tanh(W h_dec + b)``, with ``W`` starting at zero and ``b`` at the identity
  ``(1, 0, 0, 0, 1, 0)``. The scales ``theta[0]`` and ``theta[4]`` are then clipped to [0, 1].

**Batch normalisation per step.** Every normalisation inside the recurrence keeps separate
running statistics for each step (:class:`StepBatchNorm`; the authors' ``population_mean[i]``),
with one scale and shift shared by all steps. Step 1 sees the whole canvas and later steps see a
zoomed digit, so one running average for all steps would normalise neither well at evaluation.

Loss (:func:`edram_loss`, the authors' cost): at each step, cross-entropy plus the squared
error of the ``theta`` that step looked through to the digit's ground-truth affine, weighted
``(1, 0.5, 1, 0.5, 1, 1)``. Both are summed over the steps and averaged over the batch. The
ground truth is ``(sx, 0, tx, 0, sy, ty)``: the ``locations`` field of an ``mnist_cluttered.hdf5``
file, or the generated canvas's box (:meth:`glimpse_env.envs.core.GlimpseEpisodes.target_affine`).

Known differences from the authors' code:

- torch ``nn.LSTMCell`` has no peephole connections; Blocks' LSTM has them;
- the coarse view is an area average (:func:`glimpse_env.retina.coarse_view`); theirs is
  ``scipy.misc.imresize``;
- the sensor reads zeros outside the canvas (``align_corners=False``); theirs clips the
  sampling coordinates to the border;
- layers keep PyTorch's default initialisation, except the emission.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from glimpse_env.affine_sensor import IDENTITY, affine_glimpse
from glimpse_env.envs.task import NUM_CLASSES
from glimpse_env.retina import coarse_view

#: Weights of the six affine parameters in the location regression (the authors' choice).
AFFINE_WEIGHTS = (1.0, 0.5, 1.0, 0.5, 1.0, 1.0)
#: Side of the coarse canvas view the context network reads (pixels).
CONTEXT_SIZE = 12
#: The authors' batch-norm constants: epsilon, and the weight of a new batch's statistics.
BN_EPS, BN_MOMENTUM = 1e-4, 0.05


@dataclass(frozen=True)
class EDRAMSizes:
    """EDRAM's sizes; the defaults are the authors'.

    Attributes:
        window: side of the attention window in pixels (26 for 100x100 canvases; at least 14).
        channels: ``c``, channels of the first two conv layers. The others have ``2c, 2c, 5c/2,
            3c``.
        features: size of the "what" and "where" embeddings (the glimpse vector).
        hidden: units of the encoder and of the decoder LSTM (a multiple of 16: the context
            network's output, 4 x 4 x ``hidden/16``, is the decoder's initial state).
        classifier_hidden: the two FC layers of the classification head.
    """

    window: int = 26
    channels: int = 64
    features: int = 1024
    hidden: int = 512
    classifier_hidden: int = 1024

    def __post_init__(self) -> None:
        if self.window < 14:
            raise ValueError(
                f"window must be >= 14 pixels (two 'valid' 3x3 convs and two 2x2 pools), "
                f"got {self.window}"
            )
        if self.hidden < 16 or self.hidden % 16:
            raise ValueError(f"hidden must be a positive multiple of 16, got {self.hidden}")
        for name in ("channels", "features", "classifier_hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    @property
    def conv_channels(self) -> tuple[int, ...]:
        """Output channels of the six conv layers of the "what" pathway."""
        c = self.channels
        return (c, c, 2 * c, 2 * c, max(1, 5 * c // 2), 3 * c)

    @property
    def conv_side(self) -> int:
        """Side of the last conv layer's output (4 for a 26-pixel window)."""
        return (self.window - 2) // 2 // 2 - 2


class StepBatchNorm(nn.Module):
    """Batch normalisation with one scale and shift but running statistics per step.

    Input ``(N, C)`` or ``(N, C, H, W)`` and the step index ``0 <= step < steps``. Training
    normalises by the batch's statistics and updates row ``step`` of ``running_mean`` and
    ``running_var`` (``(steps, C)``); evaluation normalises by that row.
    """

    def __init__(self, num_features: int, steps: int) -> None:
        super().__init__()
        self.steps = steps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(steps, num_features))
        self.register_buffer("running_var", torch.ones(steps, num_features))

    def forward(self, x: torch.Tensor, step: int) -> torch.Tensor:
        if not 0 <= step < self.steps:
            raise ValueError(f"step {step} out of range: this model has {self.steps} steps")
        return F.batch_norm(
            x, self.running_mean[step], self.running_var[step], self.weight, self.bias,
            self.training, BN_MOMENTUM, BN_EPS,
        )  # fmt: skip


class ContextNetwork(nn.Module):
    """Coarse view ``(N, 12, 12)`` -> ``(N, hidden)``: the decoder's initial state."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        narrow, wide = max(1, hidden // 32), hidden // 16
        self.layers = nn.Sequential(
            nn.Conv2d(1, narrow, 5),
            nn.BatchNorm2d(narrow, BN_EPS, BN_MOMENTUM),
            nn.Conv2d(narrow, narrow, 3),
            nn.BatchNorm2d(narrow, BN_EPS, BN_MOMENTUM),
            nn.Conv2d(narrow, wide, 3),
            nn.BatchNorm2d(wide, BN_EPS, BN_MOMENTUM),
        )

    def forward(self, coarse: torch.Tensor) -> torch.Tensor:
        return self.layers(coarse.unsqueeze(1)).flatten(1)


class GlimpseEncoder(nn.Module):
    """Glimpse ``(N, window, window)`` and its ``theta`` ``(N, 6)`` -> ``(N, features)``:
    the "what" conv stack times the "where" embedding, batch-normalised per step."""

    _PADDING = (1, 0, 1, 1, 1, 0)  # 'same', 'valid', 'same', 'same', 'same', 'valid'
    _POOL_AFTER = (1, 3)

    def __init__(self, sizes: EDRAMSizes, steps: int) -> None:
        super().__init__()
        channels = (1, *sizes.conv_channels)
        self.convs = nn.ModuleList(
            nn.Conv2d(channels[i], channels[i + 1], 3, padding=self._PADDING[i]) for i in range(6)
        )
        self.conv_norms = nn.ModuleList(StepBatchNorm(c, steps) for c in sizes.conv_channels)
        self.what = nn.Linear(channels[-1] * sizes.conv_side**2, sizes.features)
        self.what_norm = StepBatchNorm(sizes.features, steps)
        self.where = nn.Linear(6, sizes.features)
        self.where_norm = StepBatchNorm(sizes.features, steps)

    def forward(self, glimpse: torch.Tensor, theta: torch.Tensor, step: int) -> torch.Tensor:
        x = glimpse.unsqueeze(1)
        for i, (conv, norm) in enumerate(zip(self.convs, self.conv_norms, strict=True)):
            x = F.relu(norm(conv(x), step))
            if i in self._POOL_AFTER:
                x = F.max_pool2d(x, 2)
        what = F.relu(self.what_norm(self.what(x.flatten(1)), step))
        where = F.relu(self.where_norm(self.where(theta), step))
        return what * where


class Classifier(nn.Module):
    """Encoder state ``(N, hidden)`` -> ``(N, num_classes)`` logits: FC, BN, ReLU, FC, BN,
    ReLU, FC."""

    def __init__(self, sizes: EDRAMSizes, steps: int, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        width = sizes.classifier_hidden
        self.fc1 = nn.Linear(sizes.hidden, width)
        self.norm1 = StepBatchNorm(width, steps)
        self.fc2 = nn.Linear(width, width)
        self.norm2 = StepBatchNorm(width, steps)
        self.out = nn.Linear(width, num_classes)

    def forward(self, h: torch.Tensor, step: int) -> torch.Tensor:
        x = F.relu(self.norm1(self.fc1(h), step))
        x = F.relu(self.norm2(self.fc2(x), step))
        return self.out(x)


@dataclass
class EDRAMOutput:
    """One forward pass over ``T`` steps.

    Attributes:
        logits: ``(N, T, C)`` class logits after each glimpse (``C`` = the task's classes).
        thetas: ``(N, T, 6)`` the parameters each glimpse was taken through (the first emitted
            from the context network); the affine loss regresses all of them.
    """

    logits: torch.Tensor
    thetas: torch.Tensor


class EDRAM(nn.Module):
    """EDRAM over canvases ``(N, H, W)`` for ``steps`` glimpses (see the module docstring)."""

    #: The layer that names the classes; a warm start on a task with other classes resets it.
    answer_head = "classifier.out"

    def __init__(
        self, steps: int, sizes: EDRAMSizes | None = None, num_classes: int = NUM_CLASSES
    ) -> None:
        super().__init__()
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.sizes = sizes = sizes or EDRAMSizes()
        self.steps = steps
        self.context_net = ContextNetwork(sizes.hidden)
        self.glimpse_net = GlimpseEncoder(sizes, steps)
        self.encoder = nn.LSTMCell(sizes.features, sizes.hidden)
        self.decoder = nn.LSTMCell(sizes.hidden, sizes.hidden)
        self.classifier = Classifier(sizes, steps, num_classes)
        self.emission = nn.Linear(sizes.hidden, 6)
        nn.init.zeros_(self.emission.weight)
        with torch.no_grad():
            self.emission.bias.copy_(torch.tensor(IDENTITY))

    def emit(self, h_dec: torch.Tensor) -> torch.Tensor:
        """``(N, 6)`` glimpse parameters from the decoder state: tanh, scales clipped to
        [0, 1]."""
        theta = torch.tanh(self.emission(h_dec))
        scales = theta[:, [0, 4]].clamp(0.0, 1.0)
        return torch.stack(
            [scales[:, 0], theta[:, 1], theta[:, 2], theta[:, 3], scales[:, 1], theta[:, 5]], 1
        )

    def forward(self, canvases: torch.Tensor, centres: torch.Tensor | None = None) -> EDRAMOutput:
        """Run ``steps`` glimpses over ``(N, H, W)`` canvases (uint8 or float intensities).

        ``centres``, ``(N, 2)`` normalised ``(x, y)``: a diagnostic. From the second glimpse on,
        each emitted window is moved to be centred there (its scale and shear kept), e.g. on the
        digit's true centre: how well the model reads when it looks in the right place. The first
        glimpse stays the context network's (its batch-norm statistics are those of that view).
        """
        if canvases.dim() != 3:
            raise ValueError(f"canvases must be (N, H, W), got {tuple(canvases.shape)}")
        if centres is not None and centres.shape != (canvases.shape[0], 2):
            raise ValueError(f"centres must be (N, 2) = ({canvases.shape[0]}, 2), got "
                             f"{tuple(centres.shape)}")  # fmt: skip
        n = canvases.shape[0]
        if canvases.dtype == torch.uint8:  # once, not at every glimpse
            canvases = canvases.to(torch.float32) / 255.0
        h_dec = self.context_net(coarse_view(canvases, CONTEXT_SIZE))
        c_dec = torch.zeros_like(h_dec)
        h_enc = c_enc = canvases.new_zeros(n, self.sizes.hidden, dtype=h_dec.dtype)
        theta = self.emit(h_dec)
        logits, thetas = [], []
        for step in range(self.steps):
            glimpse = affine_glimpse(canvases, theta, self.sizes.window)
            g = self.glimpse_net(glimpse, theta, step)
            h_enc, c_enc = self.encoder(g, (h_enc, c_enc))
            logits.append(self.classifier(h_enc, step))
            thetas.append(theta)
            if step < self.steps - 1:
                h_dec, c_dec = self.decoder(h_enc, (h_dec, c_dec))
                theta = self.emit(h_dec)
                if centres is not None:  # keep scale and shear, move the centre
                    theta = torch.cat(
                        [theta[:, :2], centres[:, :1], theta[:, 3:5], centres[:, 1:]], 1
                    )
        return EDRAMOutput(torch.stack(logits, 1), torch.stack(thetas, 1))


def edram_loss(
    output: EDRAMOutput,
    labels: torch.Tensor,
    target_affine: torch.Tensor,
    affine_weight: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(total, classification, location)``, each summed over the steps and averaged over the
    batch: cross-entropy of every step's logits, and the weighted squared error of every
    step's ``theta`` to ``target_affine`` ``(N, 6)``."""
    n, steps, _ = output.logits.shape
    classification = (
        F.cross_entropy(
            output.logits.reshape(n * steps, -1), labels.repeat_interleave(steps), reduction="sum"
        )
        / n
    )
    weights = torch.tensor(AFFINE_WEIGHTS, device=output.thetas.device)
    squared = (output.thetas - target_affine.unsqueeze(1)).pow(2) * weights
    location = squared.sum() / n
    return classification + affine_weight * location, classification, location
