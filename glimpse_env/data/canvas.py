"""Cluttered / translated MNIST canvases, generated the way DeepMind's mnist-cluttered does it.

One canvas (``H = W = canvas_size`` pixels, intensities in [0, 1] stored as uint8 0-255):

1. ``num_distractors`` square patches of ``distractor_size`` pixels, each cut at a uniformly
   random position from a uniformly random digit of the same split, are added at uniformly random
   positions fully inside the canvas; values are clipped to 1.
2. The digit (28x28) is added at a uniformly random position fully inside the canvas and the
   values are clipped to 1 again.
3. Digits are visited in a fresh random permutation on each pass over the split.

Several digits per canvas (``num_digits = D > 1``, DeepMind's ``nDigits``, the multi-object
tasks of Ba et al. 2014): the next ``D`` digits of the permutation are pasted one after the other
after the clutter. Unlike DeepMind's generator, which places each digit independently and lets
them overlap, each digit here is placed uniformly among the positions where its 28x28 box does not
overlap the boxes already placed, so every digit can be read. :func:`min_canvas_size` is the
smallest canvas on which that is always possible. The digits are then listed in **reading
order**: by the left edge of their box, ties broken by the top edge (left to right, top to
bottom).

A variable amount of clutter (``num_distractors = (low, high)``, seed 001's 4-50): each canvas
draws its count uniformly from ``low..high`` inclusive.

All contributions are non-negative, so "add, clip, add, clip" equals one clipped sum; the batch
is summed in int16 and saturated at 255 after every layer, so no number of distractors can
overflow it. Patches are pasted through ``unfold`` window views, so each canvas costs one
indexed patch copy per layer rather than a scatter of single pixels. Draws are counter-based
(:mod:`glimpse_env.keyed_random`): canvas ``e`` of the stream with key ``k`` is a pure function
of ``(k, e)``, which is what lets N environments be generated in one call and still match N
single environments seeded alike.

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

from glimpse_env.checks import check_int
from glimpse_env.keyed_random import Stream, permutation_index, random_integers, random_uniform

DIGIT_SIZE = 28


def min_canvas_size(num_digits: int, object_size: int = DIGIT_SIZE) -> int:
    """Smallest canvas side (pixels) on which ``num_digits`` non-overlapping square objects of
    side ``object_size`` (28: MNIST digits) can always be placed one after another at random.

    Each placed object forbids at most a ``(2s - 1) x (2s - 1)`` square of the ``P x P``
    possible corners (``s = object_size``, ``P = canvas_size - s + 1``), so a free corner is
    left for the next one whenever ``(num_digits - 1) * (2s - 1)**2 < P**2``. For one 28x28 digit
    it is 28; for two, 83.
    """
    if num_digits <= 1:
        return object_size
    forbidden = 2 * object_size - 1
    corners = int(np.floor(forbidden * np.sqrt(num_digits - 1))) + 1
    return corners + object_size - 1


def distractor_range(num_distractors: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """``(low, high)`` clutter count per canvas (inclusive) from an int or a pair.

    Raises:
        ValueError: not a non-negative int or a pair ``0 <= low <= high``.
    """
    if isinstance(num_distractors, int) and not isinstance(num_distractors, bool):
        check_int("num_distractors", num_distractors, minimum=0)
        return num_distractors, num_distractors
    pair = tuple(num_distractors) if isinstance(num_distractors, (tuple, list)) else ()
    if (
        len(pair) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair)
        or not 0 <= pair[0] <= pair[1]
    ):
        raise ValueError(
            "num_distractors must be an int >= 0 or a pair (low, high) with 0 <= low <= high "
            f"(a count drawn per canvas), got {num_distractors!r}"
        )
    return int(pair[0]), int(pair[1])


@dataclass
class CanvasBatch:
    """A batch of canvases with their targets.

    ``D`` is the number of digits per canvas (1 for the single-digit tasks); the digits are in
    reading order (see the module docstring).

    Attributes:
        images: ``(N, H, W)`` uint8, intensity 0-255 (divide by 255 for [0, 1]), or
            ``(N, C, H, W)`` for ``C``-channel (colour) objects.
        labels: ``(N, D)`` int64 digit classes.
        bboxes: ``(N, D, 4)`` int64 pixel boxes ``(x_min, y_min, x_max, y_max)``, max exclusive.
        sources: ``(N,)`` int64 index of the example each canvas shows (its first digit's index
            in its MNIST split, or the row of an HDF5 split): which training examples an
            experiment may treat as labelled (L-DRAM's fraction of location labels).
        affine: ``(N, D, 6)`` float32 ground-truth affine ``(sx, 0, tx, 0, sy, ty)`` of each
            digit when the source records one exactly (an HDF5 file's ``locations``); None when
            it is derived from ``bboxes`` (:func:`bboxes_to_affine`).
    """

    images: torch.Tensor
    labels: torch.Tensor
    bboxes: torch.Tensor
    sources: torch.Tensor
    affine: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_digits(self) -> int:
        return int(self.labels.shape[1])


def bboxes_to_affine(bboxes: torch.Tensor | np.ndarray, height: int, width: int) -> np.ndarray:
    """Pixel boxes ``(..., 4)`` -> affine ``(..., 6)`` float32 ``(sx, 0, tx, 0, sy, ty)``.

    ``sx, sy`` are the box size over the canvas size; ``(tx, ty)`` is the box centre in the
    normalised convention ``l = 2 * c / size - 1`` (pixel edges, (-1, -1) the top-left corner).
    """
    boxes = np.asarray(bboxes.cpu() if isinstance(bboxes, torch.Tensor) else bboxes, np.float64)
    x0, y0, x1, y1 = np.moveaxis(boxes, -1, 0)
    affine = np.zeros((*boxes.shape[:-1], 6), dtype=np.float64)
    affine[..., 0] = (x1 - x0) / width
    affine[..., 2] = (x0 + x1) / width - 1.0
    affine[..., 4] = (y1 - y0) / height
    affine[..., 5] = (y0 + y1) / height - 1.0
    return affine.astype(np.float32)


def affine_to_bboxes(affine: np.ndarray, height: int, width: int) -> np.ndarray:
    """Inverse of :func:`bboxes_to_affine`, rounded to whole pixels: ``(..., 6)`` ->
    ``(..., 4)``."""
    affine = np.asarray(affine, dtype=np.float64)
    box_w, box_h = affine[..., 0] * width, affine[..., 4] * height
    cx, cy = (affine[..., 2] + 1.0) * width / 2.0, (affine[..., 5] + 1.0) * height / 2.0
    boxes = np.stack([cx - box_w / 2, cy - box_h / 2, cx + box_w / 2, cy + box_h / 2], axis=-1)
    return np.floor(boxes + 0.5).astype(np.int64)


class CanvasGenerator:
    """Generates canvases from one split of square objects (MNIST digits, or your own images),
    batched and keyed.

    Args:
        digits: ``(M, s, s)`` uint8 source objects: ``(M, 28, 28)`` MNIST digits, or square
            images of any side ``s`` (the clutter is cut from other objects of the split); or
            ``(M, C, s, s)`` objects with ``C`` channels (colour), which give ``(N, C, H, W)``
            canvases (``(N, H, W)`` when ``C == 1``).
        labels: ``(M,)`` classes.
        canvas_size: side of the square canvas in pixels (>= ``s``, >= :func:`min_canvas_size`
            of ``num_digits``).
        num_distractors: clutter patches per canvas, or ``(low, high)`` for a count drawn
            uniformly per canvas.
        distractor_size: side of each clutter patch in pixels (<= ``s``).
        device: where the canvases are composed and returned.
        num_digits: digits per canvas (non-overlapping, listed in reading order).
    """

    def __init__(
        self,
        digits: np.ndarray,
        labels: np.ndarray,
        canvas_size: int = 60,
        num_distractors: int | tuple[int, int] = 4,
        distractor_size: int = 8,
        device: str | torch.device = "cpu",
        num_digits: int = 1,
    ) -> None:
        if digits.ndim not in (3, 4) or digits.shape[-1] != digits.shape[-2]:
            raise ValueError(
                f"digits must be (M, s, s) or (M, C, s, s) square objects, got {digits.shape}"
            )
        if digits.dtype != np.uint8:
            raise ValueError(f"digits must be uint8 0-255, got {digits.dtype}")
        side = int(digits.shape[-1])
        if len(digits) != len(labels) or len(digits) == 0:
            raise ValueError(f"need as many labels as digits (>0): {len(digits)} vs {len(labels)}")
        if canvas_size < side:
            raise ValueError(f"canvas_size must be at least {side} pixels, got {canvas_size}")
        self.distractor_range = distractor_range(num_distractors)
        if not 1 <= distractor_size <= side:
            raise ValueError(
                f"distractor_size must be in [1, {side}] pixels, got {distractor_size}"
            )
        check_int("num_digits", num_digits)
        if canvas_size < min_canvas_size(num_digits, side):
            raise ValueError(
                f"{num_digits} non-overlapping {side}x{side} objects need canvas_size >= "
                f"{min_canvas_size(num_digits, side)} pixels, got {canvas_size}"
            )
        #: Side of the square objects (28 for MNIST).
        self.object_size = side
        #: Channels of the objects and canvases (1: grayscale).
        self.channels = int(digits.shape[1]) if digits.ndim == 4 else 1
        self.canvas_size = canvas_size
        self.num_distractors = num_distractors
        self.distractor_size = distractor_size
        self.num_digits = num_digits
        self.device = torch.device(device)
        self.num_sources = len(digits)
        with warnings.catch_warnings():  # the cached MNIST arrays are read-only; we never write
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            objects = torch.from_numpy(np.ascontiguousarray(digits)).to(self.device)
        #: ``(M, s, s, C)``: one channel axis whatever the input, last, so that a pixel's
        #: channels are adjacent in memory (the integral image reads them together); removed
        #: again on output for ``C == 1``.
        if digits.ndim == 4:
            objects = objects.permute(0, 2, 3, 1)
        self._digits = objects.reshape(len(digits), side, side, self.channels).contiguous()
        self._labels = torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(self.device)

    def digit_indices(self, keys: np.ndarray, episodes: np.ndarray) -> np.ndarray:
        """``(N, D)`` which source digits each canvas shows: canvas ``e`` takes the digits
        ``e * D .. e * D + D - 1`` of the stream, in a fresh permutation of the split per pass."""
        d, m = self.num_digits, self.num_sources
        episodes = np.asarray(episodes, dtype=np.int64).reshape(-1, 1)
        counters = (episodes * d + np.arange(d, dtype=np.int64)).reshape(-1)
        repeated = np.repeat(np.asarray(keys, dtype=np.uint64).reshape(-1), d)
        return permutation_index(repeated, counters // m, counters % m, m).reshape(-1, d)

    def _extra_corners(
        self, keys: np.ndarray, episodes: np.ndarray, first: torch.Tensor
    ) -> torch.Tensor:
        """``(N, D, 2)`` top-left corners (x, y): ``first`` ``(N, 2)``, then each further digit
        uniform among the corners whose box overlaps none already placed."""
        s = self.object_size
        n, side = len(keys), self.canvas_size - s + 1
        u = torch.from_numpy(
            random_uniform(keys, episodes, Stream.EXTRA_DIGIT_POSITION, self.num_digits)
        ).to(self.device)
        grid = torch.arange(side, device=self.device)
        ys, xs = grid.view(1, side, 1), grid.view(1, 1, side)
        free = torch.ones((n, side, side), dtype=torch.bool, device=self.device)
        corners = [first]
        for j in range(1, self.num_digits):
            x, y = corners[-1][:, 0].view(n, 1, 1), corners[-1][:, 1].view(n, 1, 1)
            free &= ((xs - x).abs() >= s) | ((ys - y).abs() >= s)
            counts = free.flatten(1).sum(1)
            if bool((counts == 0).any()):  # excluded by min_canvas_size; kept as a guard
                raise RuntimeError("no free position left for a digit; canvas too small")
            pick = (u[:, j] * counts).long().clamp_(max=counts - 1)  # the pick-th free corner
            index = (free.flatten(1).cumsum(1) <= pick[:, None]).sum(1)
            corners.append(torch.stack([index % side, index // side], dim=1))
        return torch.stack(corners, dim=1)

    def generate(self, keys: np.ndarray, episodes: np.ndarray) -> CanvasBatch:
        """Canvases for N ``(key, episode)`` pairs.

        Args:
            keys: ``(N,)`` uint64 stream keys (one per environment).
            episodes: ``(N,)`` non-negative episode indices within each stream.
        """
        keys = np.asarray(keys, dtype=np.uint64).reshape(-1)
        episodes = np.asarray(episodes, dtype=np.int64).reshape(-1)
        n, size, d, s = len(keys), self.canvas_size, self.distractor_size, self.object_size
        low, k = self.distractor_range

        def draw(stream: int, count: int, high: int) -> torch.Tensor:
            values = random_integers(keys, episodes, stream, count, high)
            return torch.from_numpy(values).to(self.device)

        digit_idx = torch.from_numpy(self.digit_indices(keys, episodes)).to(self.device)
        corner = draw(Stream.DIGIT_POSITION, 2, size - s + 1)  # (N, 2) x, y
        batch = torch.arange(n, device=self.device)
        # int16, saturated at 255 after each layer: never more than 2 x 255 before a clamp.
        shape = (n, size, size, self.channels)  # channels last, as the objects
        canvas = torch.zeros(shape, dtype=torch.int16, device=self.device)
        if k > 0:
            source = draw(Stream.DISTRACTOR_SOURCE, k, self.num_sources)  # (N, k)
            crop = draw(Stream.DISTRACTOR_CROP, 2 * k, s - d + 1).view(n, k, 2)
            place = draw(Stream.DISTRACTOR_POSITION, 2 * k, size - d + 1).view(n, k, 2)
            active = None
            if low < k:  # a count per canvas: slots beyond it stay empty
                count = low + draw(Stream.DISTRACTOR_COUNT, 1, k - low + 1)  # (N, 1)
                active = (torch.arange(k, device=self.device) < count).to(torch.int16)
            # Views of every d x d window: indexing them copies whole patches, not pixels.
            crops = self._digits.unfold(1, d, 1).unfold(2, d, 1)  # (M, s+1-d, s+1-d, C, d, d)
            slots = canvas.unfold(1, d, 1).unfold(2, d, 1)  # (N, size-d+1, size-d+1, C, d, d)
            for j in range(k):  # one distractor slot of every canvas at a time: no overlaps
                patch = crops[source[:, j], crop[:, j, 1], crop[:, j, 0]]  # (N, C, d, d)
                if active is not None:
                    patch = patch * active[:, j, None, None, None]
                where = (batch, place[:, j, 1], place[:, j, 0])
                slots[where] = (slots[where] + patch).clamp_(max=255)
        if self.num_digits == 1:
            corners = corner[:, None]
        else:
            corners = self._extra_corners(keys, episodes, corner)
        slots = canvas.unfold(1, s, 1).unfold(2, s, 1)  # (N, size-s+1, size-s+1, C, s, s)
        objects = self._digits.permute(0, 3, 1, 2)  # (M, C, s, s) views
        for j in range(self.num_digits):  # non-overlapping: no digit adds onto another
            where = (batch, corners[:, j, 1], corners[:, j, 0])
            slots[where] = slots[where] + objects[digit_idx[:, j]]
        images = canvas.clamp_(max=255).to(torch.uint8)
        # (N, H, W) for one channel; else an (N, C, H, W) view of channels-last memory
        # (torch.channels_last), which the integral image reads without a transposing copy.
        images = images[..., 0] if self.channels == 1 else images.permute(0, 3, 1, 2)
        if self.num_digits > 1:  # reading order: left edge, then top edge
            order = (corners[..., 0] * size + corners[..., 1]).argsort(dim=1)
            corners = corners.gather(1, order[..., None].expand(-1, -1, 2))
            digit_idx = digit_idx.gather(1, order)
        bboxes = torch.cat([corners, corners + s], dim=2)
        return CanvasBatch(
            images=images,
            labels=self._labels[digit_idx],
            bboxes=bboxes,
            sources=digit_idx[:, 0],
        )
