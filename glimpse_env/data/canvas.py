"""Cluttered / translated MNIST canvases, generated the way DeepMind's mnist-cluttered does it.

One canvas (``H = W = canvas_size`` pixels, intensities in [0, 1] stored as uint8 0-255):

1. ``num_distractors`` square patches of ``distractor_size`` pixels, each cut at a uniformly
   random position from a uniformly random digit of the same split, are added at uniformly random
   positions fully inside the canvas; values are clipped to 1.
2. The digit (28x28) is added at a uniformly random position fully inside the canvas and the
   values are clipped to 1 again.
3. Digits are visited in a fresh random permutation on each pass over the split.

All contributions are non-negative, so "add, clip, add, clip" equals one clipped sum; the batch
is summed in int16 and saturated at 255 after every layer, so no number of distractors can
overflow it. Patches are pasted through ``unfold`` window views, so each
canvas costs one indexed patch copy per layer rather than a scatter of single pixels. Draws are
counter-based
(:mod:`glimpse_env.keyed_random`): canvas ``e`` of the stream with key ``k`` is a pure function of
``(k, e)``, which is what lets N environments be generated in one call and still match N single
environments seeded alike.

Bounding boxes are in pixels, ``(x_min, y_min, x_max, y_max)`` with the max exclusive: the 28x28
square the digit was pasted into. The same box in the normalised [-1, 1] convention of the retina
is the affine ``(sx, 0, tx, 0, sy, ty)`` of the ``mnist_cluttered.hdf5`` files:
``sx = 28 / W``, ``sy = 28 / H``, ``(tx, ty)`` the box centre (see :func:`bboxes_to_affine`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from glimpse_env.keyed_random import permutation_index, random_integers

DIGIT_SIZE = 28

# Stream ids for the counter-based draws (any distinct integers).
_STREAM_DIGIT_POSITION = 1
_STREAM_DISTRACTOR_SOURCE = 2
_STREAM_DISTRACTOR_CROP = 3
_STREAM_DISTRACTOR_POSITION = 4


@dataclass
class CanvasBatch:
    """A batch of canvases with their targets.

    Attributes:
        images: ``(N, H, W)`` uint8, intensity 0-255 (divide by 255 for [0, 1]).
        labels: ``(N,)`` int64 digit class.
        bboxes: ``(N, 4)`` int64 pixel box ``(x_min, y_min, x_max, y_max)``, max exclusive.
        sources: ``(N,)`` int64 index of the example each canvas shows (the digit's index in its
            MNIST split, or the row of an HDF5 split): which training examples an experiment may
            treat as labelled (L-DRAM's fraction of location labels).
        affine: ``(N, 6)`` float32 ground-truth affine ``(sx, 0, tx, 0, sy, ty)`` when the
            source records one exactly (an HDF5 file's ``locations``); None when it is derived
            from ``bboxes`` (:func:`bboxes_to_affine`).
    """

    images: torch.Tensor
    labels: torch.Tensor
    bboxes: torch.Tensor
    sources: torch.Tensor
    affine: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def bboxes_to_affine(bboxes: torch.Tensor | np.ndarray, height: int, width: int) -> np.ndarray:
    """Pixel boxes ``(N, 4)`` -> affine ``(N, 6)`` float32 ``(sx, 0, tx, 0, sy, ty)``.

    ``sx, sy`` are the box size over the canvas size; ``(tx, ty)`` is the box centre in the
    normalised convention ``l = 2 * c / size - 1`` (pixel edges, (-1, -1) the top-left corner).
    """
    boxes = np.asarray(bboxes.cpu() if isinstance(bboxes, torch.Tensor) else bboxes, np.float64)
    x0, y0, x1, y1 = boxes.T
    affine = np.zeros((len(boxes), 6), dtype=np.float64)
    affine[:, 0] = (x1 - x0) / width
    affine[:, 2] = (x0 + x1) / width - 1.0
    affine[:, 4] = (y1 - y0) / height
    affine[:, 5] = (y0 + y1) / height - 1.0
    return affine.astype(np.float32)


def affine_to_bboxes(affine: np.ndarray, height: int, width: int) -> np.ndarray:
    """Inverse of :func:`bboxes_to_affine`, rounded to whole pixels: ``(N, 6)`` -> ``(N, 4)``."""
    affine = np.asarray(affine, dtype=np.float64)
    box_w, box_h = affine[:, 0] * width, affine[:, 4] * height
    cx, cy = (affine[:, 2] + 1.0) * width / 2.0, (affine[:, 5] + 1.0) * height / 2.0
    boxes = np.stack([cx - box_w / 2, cy - box_h / 2, cx + box_w / 2, cy + box_h / 2], axis=1)
    return np.floor(boxes + 0.5).astype(np.int64)


class CanvasGenerator:
    """Generates canvases from one MNIST split, batched and keyed.

    Args:
        digits: ``(M, 28, 28)`` uint8 source digits.
        labels: ``(M,)`` digit classes.
        canvas_size: side of the square canvas in pixels (>= 28).
        num_distractors: clutter patches per canvas.
        distractor_size: side of each clutter patch in pixels (<= 28).
        device: where the canvases are composed and returned.
    """

    def __init__(
        self,
        digits: np.ndarray,
        labels: np.ndarray,
        canvas_size: int = 60,
        num_distractors: int = 4,
        distractor_size: int = 8,
        device: str | torch.device = "cpu",
    ) -> None:
        if digits.ndim != 3 or digits.shape[1:] != (DIGIT_SIZE, DIGIT_SIZE):
            raise ValueError(f"digits must be (M, 28, 28), got {digits.shape}")
        if len(digits) != len(labels) or len(digits) == 0:
            raise ValueError(f"need as many labels as digits (>0): {len(digits)} vs {len(labels)}")
        if canvas_size < DIGIT_SIZE:
            raise ValueError(f"canvas_size must be at least {DIGIT_SIZE} pixels, got {canvas_size}")
        if num_distractors < 0:
            raise ValueError(f"num_distractors must be >= 0, got {num_distractors}")
        if not 1 <= distractor_size <= DIGIT_SIZE:
            raise ValueError(f"distractor_size must be in [1, 28] pixels, got {distractor_size}")
        self.canvas_size = canvas_size
        self.num_distractors = num_distractors
        self.distractor_size = distractor_size
        self.device = torch.device(device)
        self.num_digits = len(digits)
        with warnings.catch_warnings():  # the cached MNIST arrays are read-only; we never write
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            self._digits = torch.from_numpy(np.ascontiguousarray(digits)).to(self.device)
        self._labels = torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(self.device)

    def digit_indices(self, keys: np.ndarray, episodes: np.ndarray) -> np.ndarray:
        """Which source digit each canvas shows: a fresh permutation of the split per pass."""
        episodes = np.asarray(episodes, dtype=np.int64)
        return permutation_index(
            keys, episodes // self.num_digits, episodes % self.num_digits, self.num_digits
        )

    def generate(self, keys: np.ndarray, episodes: np.ndarray) -> CanvasBatch:
        """Canvases for N ``(key, episode)`` pairs.

        Args:
            keys: ``(N,)`` uint64 stream keys (one per environment).
            episodes: ``(N,)`` non-negative episode indices within each stream.
        """
        keys = np.asarray(keys, dtype=np.uint64).reshape(-1)
        episodes = np.asarray(episodes, dtype=np.int64).reshape(-1)
        n, size, d, k = len(keys), self.canvas_size, self.distractor_size, self.num_distractors

        def draw(stream: int, count: int, high: int) -> torch.Tensor:
            values = random_integers(keys, episodes, stream, count, high)
            return torch.from_numpy(values).to(self.device)

        digit_idx = torch.from_numpy(self.digit_indices(keys, episodes)).to(self.device)
        corner = draw(_STREAM_DIGIT_POSITION, 2, size - DIGIT_SIZE + 1)  # (N, 2) x, y
        batch = torch.arange(n, device=self.device)
        # int16, saturated at 255 after each layer: never more than 2 x 255 before a clamp.
        canvas = torch.zeros((n, size, size), dtype=torch.int16, device=self.device)
        if k > 0:
            source = draw(_STREAM_DISTRACTOR_SOURCE, k, self.num_digits)  # (N, k)
            crop = draw(_STREAM_DISTRACTOR_CROP, 2 * k, DIGIT_SIZE - d + 1).view(n, k, 2)
            place = draw(_STREAM_DISTRACTOR_POSITION, 2 * k, size - d + 1).view(n, k, 2)
            # Views of every d x d window: indexing them copies whole patches, not pixels.
            crops = self._digits.unfold(1, d, 1).unfold(2, d, 1)  # (M, 29-d, 29-d, d, d)
            slots = canvas.unfold(1, d, 1).unfold(2, d, 1)  # (N, size-d+1, size-d+1, d, d)
            for j in range(k):  # one distractor slot of every canvas at a time: no overlaps
                patch = crops[source[:, j], crop[:, j, 1], crop[:, j, 0]]
                where = (batch, place[:, j, 1], place[:, j, 0])
                slots[where] = (slots[where] + patch).clamp_(max=255)
        slots = canvas.unfold(1, DIGIT_SIZE, 1).unfold(2, DIGIT_SIZE, 1)
        where = (batch, corner[:, 1], corner[:, 0])
        slots[where] = slots[where] + self._digits[digit_idx]
        images = canvas.clamp_(max=255).to(torch.uint8)
        bboxes = torch.cat([corner, corner + DIGIT_SIZE], dim=1)
        return CanvasBatch(
            images=images, labels=self._labels[digit_idx], bboxes=bboxes, sources=digit_idx
        )
