"""The glimpse task as tensors: N episodes stepped together.

:class:`GlimpseEpisodes` is the one implementation of the task's rules. The single Gymnasium env
runs it with N = 1 and the native vector env with N = num_envs, so the two cannot drift apart.

Randomness: environment ``i`` owns a 64-bit key (drawn once from its seeded ``np_random``) and an
episode counter; everything random about episode ``e`` (digit, clutter, position, random initial
location) is a pure function of ``(key_i, e)``, see :mod:`glimpse_env.keyed_random`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from glimpse_env.data.canvas import (
    bboxes_to_affine,
)
from glimpse_env.data.sources import ImageSource
from glimpse_env.envs.canvases import (
    GeneratedCanvases,
    check_channels,
    make_canvas_source,
)
from glimpse_env.envs.task import (
    TaskConfig,
    check_device,
    check_num_envs,
    task_answers,
)
from glimpse_env.keyed_random import Stream, random_uniform
from glimpse_env.retina import (
    coarse_view,
    extract_glimpses,
    integral_image,
)


@dataclass
class StepResult:
    """What one step of N episodes returns (tensors on the episodes' device).

    Attributes:
        glimpses: ``(N, k, g, g)`` float32 in [0, 1] (``(N, k, C, g, g)`` for ``C > 1``).
        locations: ``(N, 2)`` float32, where the glimpses were taken (normalised, clipped).
        rewards: ``(N,)`` float32, 1.0 for a correct label on a step that scores one, else 0.0.
        terminated: ``(N,)`` bool, True on the episode's last step.
    """

    glimpses: torch.Tensor
    locations: torch.Tensor
    rewards: torch.Tensor
    terminated: torch.Tensor


class GlimpseEpisodes:
    """N glimpse episodes held as tensors and advanced together.

    Episode rules: :meth:`reset` draws a canvas and returns the glimpse at the initial location
    (observation 1), or at ``first_locations`` when the caller gives them. Each :meth:`step`
    moves to the given location (clipped to [-1, 1]) and returns the glimpse there. The steps in
    ``config.answer_steps`` score the label (reward 1.0 if right, else 0.0): with one digit,
    step ``num_glimpses``; with ``D`` digits named in sequence, steps ``num_glimpses * j`` name
    digit ``j`` (reading order); for their sum, the last step. Step ``num_glimpses * D``
    terminates. Rewards on the other steps are 0.

    Targets: ``digit_labels`` ``(N, D)`` and ``digit_bboxes`` ``(N, D, 4)`` in reading order;
    ``answers`` ``(N, A)`` what the scored steps expect.
    """

    def __init__(
        self,
        config: TaskConfig,
        num_envs: int,
        device: str | torch.device = "cpu",
        images: ImageSource | None = None,
    ):
        """``images``: compose the canvases from the ``config.split`` split of these images
        instead of MNIST or the dataset file (:class:`GeneratedCanvases`)."""
        self.config = config
        self.num_envs = check_num_envs(num_envs)
        self.device = check_device(device)
        if images is None:
            self.source = make_canvas_source(config, self.device)
        else:
            self.source = GeneratedCanvases(config, self.device, images[config.split])
            check_channels(config, self.source)
        self.keys = np.zeros(num_envs, dtype=np.uint64)
        self.episodes = np.full(num_envs, -1, dtype=np.int64)
        n, h, w = num_envs, self.source.height, self.source.width
        d = config.num_digits
        planes = (self.channels,) if self.channels > 1 else ()
        self.images = torch.zeros((n, *planes, h, w), dtype=torch.uint8, device=self.device)
        if planes:  # channels-last memory, as the canvas sources give
            self.images = self.images.contiguous(memory_format=torch.channels_last)
        self.tables = integral_image(self.images)
        self.digit_labels = torch.zeros((n, d), dtype=torch.int64, device=self.device)
        self.digit_bboxes = torch.zeros((n, d, 4), dtype=torch.int64, device=self.device)
        self.sources = torch.zeros(n, dtype=torch.int64, device=self.device)
        #: ``(N, D, 6)`` the file's ground-truth affine of each digit, for HDF5 sources only.
        self.recorded_affine: torch.Tensor | None = None
        self.locations = torch.zeros((n, 2), dtype=torch.float32, device=self.device)
        self.steps = torch.zeros(n, dtype=torch.int64, device=self.device)
        #: ``(N,)`` labels named right so far in the current episode.
        self.correct = torch.zeros(n, dtype=torch.int64, device=self.device)
        answer_steps = torch.zeros(config.episode_length + 1, dtype=torch.bool)
        answer_steps[list(config.answer_steps)] = True
        self._answer_steps = answer_steps.to(self.device)
        cs = config.context_size
        self.context = torch.zeros((n, *planes, cs, cs), dtype=torch.float32, device=self.device)

    @property
    def canvas_shape(self) -> tuple[int, int]:
        return self.source.height, self.source.width

    @property
    def channels(self) -> int:
        """``C``, the canvases' channels (1: grayscale, ``(N, H, W)`` canvases)."""
        return self.source.channels

    @property
    def labels(self) -> torch.Tensor:
        """``(N,)`` the first digit's class (the only one in single-digit tasks)."""
        return self.digit_labels[:, 0]

    @property
    def bboxes(self) -> torch.Tensor:
        """``(N, 4)`` the first digit's pixel box (the only one in single-digit tasks)."""
        return self.digit_bboxes[:, 0]

    @property
    def answers(self) -> torch.Tensor:
        """``(N, A)`` int64: the label each scored step expects, in order
        (:func:`task_answers`)."""
        return task_answers(self.digit_labels, self.config.target)

    def succeeded(self) -> torch.Tensor:
        """``(N,)`` bool: every label scored so far in the episode was right, and all were
        scored (meaningful once the episode has terminated)."""
        return self.correct >= self.config.answers_per_episode

    def expected_label(self) -> torch.Tensor:
        """``(N,)`` the label the next scored step of each episode expects."""
        config = self.config
        answered = (
            (self.steps - config.first_move).clamp(min=0) // config.num_glimpses
            if config.target != "sum"
            else 0
        )
        index = torch.as_tensor(answered, device=self.device).clamp(
            max=config.answers_per_episode - 1
        )
        return self.answers.gather(1, index.reshape(-1, 1).expand(self.num_envs, 1))[:, 0]

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
        """``(N, D, 6)`` float32 ground-truth affine ``(sx, 0, tx, 0, sy, ty)`` of each current
        canvas's digits: the HDF5 file's ``locations`` exactly when the canvases come from a
        file, else derived from the pixel boxes (:func:`glimpse_env.data.canvas.bboxes_to_affine`).
        Privileged information, for supervised location losses (EDRAM)."""
        if self.recorded_affine is not None:
            return self.recorded_affine
        height, width = self.canvas_shape
        return torch.from_numpy(bboxes_to_affine(self.digit_bboxes, height, width)).to(self.device)

    def glimpse(self, locations: torch.Tensor) -> torch.Tensor:
        """``(N, k, g, g)`` glimpses (``(N, k, C, g, g)`` for ``C > 1``) of the current
        canvases at ``(N, 2)`` locations."""
        c = self.config
        glimpses = extract_glimpses(
            self.tables, locations, c.glimpse_size, c.num_scales, c.scale_factor
        )
        assert isinstance(glimpses, torch.Tensor)  # tensor locations give tensor glimpses
        return glimpses

    def reset(
        self, mask: np.ndarray | None = None, first_locations: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Start the next episode of the masked environments (all by default).

        Args:
            mask: ``(N,)`` bool, which environments start a new episode.
            first_locations: ``(M, 2)`` finite locations of the first glimpse of the ``M``
                masked environments (clipped to [-1, 1]), e.g. chosen by an agent from the
                coarse view; default: ``config.initial_location``.

        Returns:
            ``(N, k, g, g)`` (or ``(N, k, C, g, g)``) glimpses at the current locations of all
            environments.
        """
        mask = np.ones(self.num_envs, bool) if mask is None else np.asarray(mask, bool)
        if mask.shape != (self.num_envs,):
            raise ValueError(f"reset mask must have shape ({self.num_envs},), got {mask.shape}")
        if mask.any():
            self.episodes[mask] += 1
            keys, episodes = self.keys[mask], self.episodes[mask]
            batch = self.source.generate(keys, episodes)
            if mask.all():
                self.images = batch.images
                self.digit_labels, self.digit_bboxes = batch.labels, batch.bboxes
                self.sources = batch.sources
                if batch.affine is not None:
                    self.recorded_affine = batch.affine
                self.tables = integral_image(batch.images, out=self.tables)
                if self.config.context_size:
                    self.context = coarse_view(batch.images, self.config.context_size)
            else:
                where = torch.from_numpy(np.flatnonzero(mask)).to(self.device)
                self.images[where], self.digit_labels[where] = batch.images, batch.labels
                self.digit_bboxes[where] = batch.bboxes
                self.sources[where] = batch.sources
                if batch.affine is not None:
                    if self.recorded_affine is None:
                        shape = (self.num_envs, *batch.affine.shape[1:])
                        self.recorded_affine = torch.zeros(shape, device=self.device)
                    self.recorded_affine[where] = batch.affine
                self.tables.table[where] = integral_image(batch.images).table
                if self.config.context_size:
                    self.context[where] = coarse_view(batch.images, self.config.context_size)
            if first_locations is not None:
                start = first_locations.to(self.device, torch.float32).clamp(-1.0, 1.0)
            elif self.config.initial_location == "random":
                drawn = random_uniform(keys, episodes, Stream.INITIAL_LOCATION, 2) * 2.0 - 1.0
                start = torch.from_numpy(drawn.astype(np.float32)).to(self.device)
            else:
                start = torch.zeros((len(keys), 2), dtype=torch.float32, device=self.device)
            where = torch.from_numpy(mask).to(self.device)
            self.locations[where] = start
            self.steps[where] = 0
            self.correct[where] = 0
        glimpses = self.glimpse(self.locations)
        if self.config.first_move:  # nothing seen before the agent's first move
            glimpses[torch.from_numpy(mask).to(self.device)] = 0.0
        return glimpses

    def step(self, locations: torch.Tensor, labels: torch.Tensor) -> StepResult:
        """Advance every environment by one step.

        Args:
            locations: ``(N, 2)`` finite next locations (x, y); clipped to [-1, 1].
            labels: ``(N,)`` int64 class guesses; only read on the steps that score one.
        """
        expected = self.expected_label()
        self.locations = locations.to(self.device, torch.float32).clamp(-1.0, 1.0)
        self.steps += 1
        terminated = self.steps >= self.config.episode_length
        scored = self._answer_steps[self.steps.clamp(max=self.config.episode_length)]
        right = scored & (labels.to(self.device) == expected)
        self.correct += right
        return StepResult(
            self.glimpse(self.locations), self.locations, right.to(torch.float32), terminated
        )
