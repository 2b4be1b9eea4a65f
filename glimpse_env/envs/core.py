"""The glimpse task as tensors: N episodes stepped together.

:class:`GlimpseEpisodes` is the one implementation of the task's rules. The single Gymnasium env
runs it with N = 1 and the native vector env with N = num_envs, so the two cannot drift apart.

Randomness: environment ``i`` owns a 64-bit key (drawn once from its seeded ``np_random``) and an
episode counter; everything random about episode ``e`` (digit, clutter, position, random initial
location) is a pure function of ``(key_i, e)``, see :mod:`glimpse_env.keyed_random`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from glimpse_env.data.canvas import CanvasBatch, CanvasGenerator, bboxes_to_affine
from glimpse_env.data.hdf5 import read_canvas_hdf5
from glimpse_env.data.mnist import SPLITS, load_mnist
from glimpse_env.keyed_random import permutation_index, random_uniform
from glimpse_env.retina import (
    check_glimpse_config,
    coarse_view,
    extract_glimpses,
    integral_image,
)

NUM_CLASSES = 10
INITIAL_LOCATIONS = ("center", "random")
_STREAM_INITIAL_LOCATION = 5


@dataclass(frozen=True)
class TaskConfig:
    """Parameters of the glimpse task (pixels unless stated).

    Attributes:
        canvas_size: side of the square canvas. Ignored when ``dataset_path`` is given (the
            file's canvases decide).
        num_distractors: clutter patches per canvas (0: translated MNIST).
        distractor_size: side of each clutter patch.
        glimpse_size: ``g``, side of every patch after reduction.
        num_scales: ``k``, patches per glimpse.
        scale_factor: ``s``, patch ``i`` has side ``g * s**i`` before reduction.
        num_glimpses: observations per episode (``reset`` gives the first).
        split: ``"train"``, ``"valid"`` or ``"test"``: which MNIST digits (or which HDF5 rows)
            are used, distractors included. ``train``: MNIST training digits 0-49,999;
            ``valid``: training digits 50,000-59,999; ``test``: the 10,000 test digits
            (:data:`glimpse_env.data.mnist.SPLITS`, DeepMind's mnist-cluttered split).
        initial_location: ``"center"`` (0, 0) or ``"random"`` (uniform on [-1, 1]^2).
        context_size: if positive, observations also carry ``"context"``: the whole canvas
            downsampled to ``context_size x context_size`` (DRAM's coarse view; see
            :func:`glimpse_env.retina.coarse_view`). 0 (default): no context.
        data_dir: MNIST directory (see :mod:`glimpse_env.data.mnist` for the lookup order).
        dataset_path: serve canvases from this HDF5 file instead of generating them.
    """

    canvas_size: int = 60
    num_distractors: int = 4
    distractor_size: int = 8
    glimpse_size: int = 12
    num_scales: int = 3
    scale_factor: int = 2
    num_glimpses: int = 6
    split: str = "train"
    initial_location: str = "center"
    context_size: int = 0
    data_dir: str | os.PathLike | None = None
    dataset_path: str | os.PathLike | None = None

    def __post_init__(self) -> None:
        for name, minimum in (("canvas_size", 1), ("num_distractors", 0), ("distractor_size", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                kind = "a positive int" if minimum else "an int >= 0"
                raise ValueError(f"{name} must be {kind} (pixels or a count), got {value!r}")
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {self.split!r}")
        if self.initial_location not in INITIAL_LOCATIONS:
            raise ValueError(
                f"initial_location must be one of {INITIAL_LOCATIONS}, "
                f"got {self.initial_location!r}"
            )
        if not isinstance(self.num_glimpses, int) or self.num_glimpses < 1:
            raise ValueError(f"num_glimpses must be a positive int, got {self.num_glimpses!r}")
        check_glimpse_config(self.glimpse_size, self.num_scales, self.scale_factor)
        if not isinstance(self.context_size, int) or self.context_size < 0:
            raise ValueError(f"context_size must be an int >= 0, got {self.context_size!r}")


def check_device(device: str | torch.device) -> torch.device:
    """``torch.device(device)``, with one clear error for a malformed name or a CUDA device this
    torch cannot use."""
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {str(device)!r}: this torch has no usable CUDA (torch {torch.__version__}, "
            "built for CPU or no GPU visible); use device='cpu'"
        )
    return device


def check_num_envs(num_envs: Any) -> int:
    """``num_envs`` if it is a positive int, else one clear ``ValueError``."""
    if not isinstance(num_envs, int) or isinstance(num_envs, bool) or num_envs < 1:
        raise ValueError(f"num_envs must be a positive int, got {num_envs!r}")
    return num_envs


def task_config(**task: Any) -> TaskConfig:
    """:class:`TaskConfig` from keyword arguments, with one clear error for an unknown name."""
    known = [f.name for f in dataclasses.fields(TaskConfig)]
    unknown = sorted(set(task) - set(known))
    if unknown:
        raise ValueError(f"unknown task argument(s) {unknown}; the task fields are {known}")
    return TaskConfig(**task)


class CanvasSource(Protocol):
    """Anything that returns canvases for ``(key, episode)`` pairs.

    ``num_sources`` is the number of examples the canvases are drawn from (the split's digits or
    the HDF5 split's rows); ``CanvasBatch.sources`` indexes them.
    """

    height: int
    width: int
    num_sources: int

    def generate(self, keys: np.ndarray, episodes: np.ndarray) -> CanvasBatch: ...


class GeneratedCanvases:
    """Canvases generated on the fly from an MNIST split (see :class:`CanvasGenerator`)."""

    def __init__(self, config: TaskConfig, device: torch.device) -> None:
        mnist = load_mnist(config.split, config.data_dir)
        self._generator = CanvasGenerator(
            mnist.images,
            mnist.labels,
            config.canvas_size,
            config.num_distractors,
            config.distractor_size,
            device,
        )
        self.height = self.width = config.canvas_size
        self.num_sources = self._generator.num_digits

    def generate(self, keys: np.ndarray, episodes: np.ndarray) -> CanvasBatch:
        return self._generator.generate(keys, episodes)


class DatasetCanvases:
    """Canvases served from one split of an HDF5 file, in a fresh keyed permutation per pass."""

    def __init__(self, config: TaskConfig, device: torch.device) -> None:
        arrays = read_canvas_hdf5(config.dataset_path, config.split)
        if len(arrays) == 0:
            raise ValueError(f"{config.dataset_path}: split {config.split!r} has no rows")
        self._images = torch.from_numpy(arrays.images).to(device)
        self._labels = torch.from_numpy(arrays.labels).to(device)
        self._bboxes = torch.from_numpy(arrays.bboxes).to(device)
        self._affine = torch.from_numpy(arrays.affine).to(device)
        self.height, self.width = arrays.images.shape[1:]
        self.num_sources = len(self._labels)

    def generate(self, keys: np.ndarray, episodes: np.ndarray) -> CanvasBatch:
        n = len(self._labels)
        episodes = np.asarray(episodes, dtype=np.int64)
        rows = permutation_index(keys, episodes // n, episodes % n, n)
        rows = torch.from_numpy(rows).to(self._images.device)
        return CanvasBatch(
            self._images[rows], self._labels[rows], self._bboxes[rows], torch.as_tensor(rows),
            affine=self._affine[rows],
        )  # fmt: skip


def make_canvas_source(config: TaskConfig, device: torch.device) -> CanvasSource:
    if config.dataset_path is not None:
        return DatasetCanvases(config, device)
    return GeneratedCanvases(config, device)


@dataclass
class StepResult:
    """What one step of N episodes returns (tensors on the episodes' device).

    Attributes:
        glimpses: ``(N, k, g, g)`` float32 in [0, 1].
        locations: ``(N, 2)`` float32, where the glimpses were taken (normalised, clipped).
        rewards: ``(N,)`` float32, 1.0 for a correct label on the final step, else 0.0.
        terminated: ``(N,)`` bool, True on the step that scores the label.
    """

    glimpses: torch.Tensor
    locations: torch.Tensor
    rewards: torch.Tensor
    terminated: torch.Tensor


class GlimpseEpisodes:
    """N glimpse episodes held as tensors and advanced together.

    Episode rules: :meth:`reset` draws a canvas and returns the glimpse at the initial location
    (observation 1). Each :meth:`step` moves to the given location (clipped to [-1, 1]) and
    returns the glimpse there; step number ``num_glimpses`` also scores the label (reward 1.0
    if right, else 0.0) and terminates. Rewards on the other steps are 0.
    """

    def __init__(self, config: TaskConfig, num_envs: int, device: str | torch.device = "cpu"):
        self.config = config
        self.num_envs = check_num_envs(num_envs)
        self.device = check_device(device)
        self.source = make_canvas_source(config, self.device)
        self.keys = np.zeros(num_envs, dtype=np.uint64)
        self.episodes = np.full(num_envs, -1, dtype=np.int64)
        n, h, w = num_envs, self.source.height, self.source.width
        self.images = torch.zeros((n, h, w), dtype=torch.uint8, device=self.device)
        self.tables = integral_image(self.images)
        self.labels = torch.zeros(n, dtype=torch.int64, device=self.device)
        self.bboxes = torch.zeros((n, 4), dtype=torch.int64, device=self.device)
        self.sources = torch.zeros(n, dtype=torch.int64, device=self.device)
        #: ``(N, 6)`` the file's ground-truth affine of each canvas, for HDF5 sources only.
        self.recorded_affine: torch.Tensor | None = None
        self.locations = torch.zeros((n, 2), dtype=torch.float32, device=self.device)
        self.steps = torch.zeros(n, dtype=torch.int64, device=self.device)
        cs = config.context_size
        self.context = torch.zeros((n, cs, cs), dtype=torch.float32, device=self.device)

    @property
    def canvas_shape(self) -> tuple[int, int]:
        return self.source.height, self.source.width

    def set_keys(
        self,
        keys: np.ndarray,
        mask: np.ndarray | None = None,
        next_episodes: np.ndarray | None = None,
    ) -> None:
        """Give environments new stream keys and set which episode the next reset starts.

        Args:
            keys: uint64 stream keys, one per selected environment.
            mask: ``(N,)`` bool, which environments (all by default).
            next_episodes: episode index the next :meth:`reset` of each selected environment
                draws (default 0, a fresh stream).
        """
        mask = np.ones(self.num_envs, bool) if mask is None else np.asarray(mask, bool)
        self.keys[mask] = np.asarray(keys, dtype=np.uint64)
        if next_episodes is None:
            self.episodes[mask] = -1
        else:
            next_episodes = np.asarray(next_episodes, dtype=np.int64)
            if (next_episodes < 0).any():
                raise ValueError(f"episode indices must be >= 0, got {next_episodes.min()}")
            self.episodes[mask] = next_episodes - 1

    def target_affine(self) -> torch.Tensor:
        """``(N, 6)`` float32 ground-truth affine ``(sx, 0, tx, 0, sy, ty)`` of each current
        canvas's digit: the HDF5 file's ``locations`` row exactly when the canvases come from a
        file, else derived from the pixel box (:func:`glimpse_env.data.canvas.bboxes_to_affine`).
        Privileged information, for supervised location losses (EDRAM)."""
        if self.recorded_affine is not None:
            return self.recorded_affine
        height, width = self.canvas_shape
        return torch.from_numpy(bboxes_to_affine(self.bboxes, height, width)).to(self.device)

    def glimpse(self, locations: torch.Tensor) -> torch.Tensor:
        """``(N, k, g, g)`` glimpses of the current canvases at ``(N, 2)`` locations."""
        c = self.config
        return extract_glimpses(
            self.tables, locations, c.glimpse_size, c.num_scales, c.scale_factor
        )

    def reset(self, mask: np.ndarray | None = None) -> torch.Tensor:
        """Start the next episode of the masked environments (all by default).

        Returns:
            ``(N, k, g, g)`` glimpses at the current locations of all environments.
        """
        mask = np.ones(self.num_envs, bool) if mask is None else np.asarray(mask, bool)
        if mask.shape != (self.num_envs,):
            raise ValueError(f"reset mask must have shape ({self.num_envs},), got {mask.shape}")
        if mask.any():
            self.episodes[mask] += 1
            keys, episodes = self.keys[mask], self.episodes[mask]
            batch = self.source.generate(keys, episodes)
            if mask.all():
                self.images, self.labels, self.bboxes = batch.images, batch.labels, batch.bboxes
                self.sources = batch.sources
                if batch.affine is not None:
                    self.recorded_affine = batch.affine
                self.tables = integral_image(batch.images)
                if self.config.context_size:
                    self.context = coarse_view(batch.images, self.config.context_size)
            else:
                where = torch.from_numpy(np.flatnonzero(mask)).to(self.device)
                self.images[where], self.labels[where] = batch.images, batch.labels
                self.bboxes[where] = batch.bboxes
                self.sources[where] = batch.sources
                if batch.affine is not None:
                    if self.recorded_affine is None:
                        self.recorded_affine = torch.zeros((self.num_envs, 6), device=self.device)
                    self.recorded_affine[where] = batch.affine
                self.tables.table[where] = integral_image(batch.images).table
                if self.config.context_size:
                    self.context[where] = coarse_view(batch.images, self.config.context_size)
            if self.config.initial_location == "random":
                start = random_uniform(keys, episodes, _STREAM_INITIAL_LOCATION, 2) * 2.0 - 1.0
                start = torch.from_numpy(start.astype(np.float32)).to(self.device)
            else:
                start = torch.zeros((len(keys), 2), dtype=torch.float32, device=self.device)
            where = torch.from_numpy(mask).to(self.device)
            self.locations[where] = start
            self.steps[where] = 0
        return self.glimpse(self.locations)

    def step(self, locations: torch.Tensor, labels: torch.Tensor) -> StepResult:
        """Advance every environment by one step.

        Args:
            locations: ``(N, 2)`` finite next locations (x, y); clipped to [-1, 1].
            labels: ``(N,)`` int64 class guesses; only read on the final step.
        """
        self.locations = locations.to(self.device, torch.float32).clamp(-1.0, 1.0)
        self.steps += 1
        terminated = self.steps >= self.config.num_glimpses
        correct = labels.to(self.device) == self.labels
        rewards = (terminated & correct).to(torch.float32)
        return StepResult(self.glimpse(self.locations), self.locations, rewards, terminated)
