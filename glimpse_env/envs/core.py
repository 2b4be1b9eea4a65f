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

from glimpse_env.checks import check_int, check_memory
from glimpse_env.data.canvas import (
    CanvasBatch,
    CanvasGenerator,
    bboxes_to_affine,
    distractor_range,
    min_canvas_size,
)
from glimpse_env.data.hdf5 import read_canvas_hdf5
from glimpse_env.data.mnist import SPLITS, load_mnist
from glimpse_env.data.sources import ImageSource, ImageSplit
from glimpse_env.keyed_random import Stream, permutation_index, random_uniform
from glimpse_env.retina import (
    check_glimpse_config,
    coarse_view,
    extract_glimpses,
    integral_image,
)

NUM_CLASSES = 10
#: The largest side, in pixels, a glimpse's coarsest patch may have.
MAX_PATCH_SIDE = 1 << 20
INITIAL_LOCATIONS = ("center", "random", "agent")
#: What a multi-digit episode asks for: every digit in reading order, or their sum.
TARGETS = ("sequence", "sum")


@dataclass(frozen=True)
class TaskConfig:
    """Parameters of the glimpse task (pixels unless stated).

    Attributes:
        canvas_size: side of the square canvas. Ignored when ``dataset_path`` is given (the
            file's canvases decide).
        num_distractors: clutter patches per canvas (0: translated MNIST), or ``(low, high)``:
            a count drawn uniformly from ``low..high`` for each canvas.
        distractor_size: side of each clutter patch.
        glimpse_size: ``g``, side of every patch after reduction.
        num_scales: ``k``, patches per glimpse.
        scale_factor: ``s``, patch ``i`` has side ``g * s**i`` before reduction.
        num_glimpses: observations per digit; an episode has ``num_glimpses * num_digits``
            (``reset`` gives the first).
        num_digits: digits per canvas (non-overlapping; see :mod:`glimpse_env.data.canvas`).
        target: with several digits, what the agent names: ``"sequence"`` (default), each digit
            in reading order, the ``j``-th after glimpse ``j * num_glimpses``; or ``"sum"``,
            their sum (``9 * num_digits + 1`` classes) after the last glimpse.
        split: ``"train"``, ``"valid"`` or ``"test"``: which MNIST digits (or which HDF5 rows)
            are used, distractors included. ``train``: MNIST training digits 0-49,999;
            ``valid``: training digits 50,000-59,999; ``test``: the 10,000 test digits
            (:data:`glimpse_env.data.mnist.SPLITS`, DeepMind's mnist-cluttered split).
        initial_location: where glimpse 1 is taken: ``"center"`` (0, 0), ``"random"`` (uniform
            on [-1, 1]^2), or ``"agent"``: the agent chooses it, from the context for instance
            (DRAM). Then ``reset`` returns an empty glimpse (zeros) at (0, 0), and the episode
            has one more step, a first step that only moves: its action's location is where
            glimpse 1 is taken.
        context_size: if positive, observations also carry ``"context"``: the whole canvas
            downsampled to ``context_size x context_size`` (DRAM's coarse view; see
            :func:`glimpse_env.retina.coarse_view`). 0 (default): no context.
        data_dir: MNIST directory (see :mod:`glimpse_env.data.mnist` for the lookup order).
        dataset_path: serve canvases from this HDF5 file instead of generating them.
        classes: how many classes one answer has (None: the 10 digits): set it for a dataset
            file of your own with other labels (``3`` for labels 0-2); the label action is then
            ``Discrete(classes)``, and a file label outside ``0 .. classes-1`` is an error.
        channels: channels ``C`` of the canvases (None: the source's, 1 for MNIST, a dataset
            file's ``C``); a number is checked against the source. With ``C > 1`` glimpses are
            ``(k, C, g, g)`` and the context ``(C, c, c)``.
    """

    canvas_size: int = 60
    num_distractors: int = 4
    distractor_size: int = 8
    glimpse_size: int = 12
    num_scales: int = 3
    scale_factor: int = 2
    num_glimpses: int = 6
    num_digits: int = 1
    target: str = "sequence"
    split: str = "train"
    initial_location: str = "center"
    context_size: int = 0
    data_dir: str | os.PathLike | None = None
    dataset_path: str | os.PathLike | None = None
    classes: int | None = None
    channels: int | None = None

    def __post_init__(self) -> None:
        for name in ("canvas_size", "distractor_size", "num_digits"):
            check_int(name, getattr(self, name), note="pixels or count")
        low, high = distractor_range(self.num_distractors)
        if not isinstance(self.num_distractors, int):  # a list from JSON: keep it hashable
            object.__setattr__(self, "num_distractors", (low, high))
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {self.target!r}")
        if (  # one object: the canvas generator checks its own object size
            self.dataset_path is None
            and self.num_digits > 1
            and self.canvas_size < min_canvas_size(self.num_digits)
        ):
            raise ValueError(
                f"{self.num_digits} non-overlapping 28x28 digits need canvas_size >= "
                f"{min_canvas_size(self.num_digits)} pixels, got {self.canvas_size}"
            )
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {self.split!r}")
        if self.initial_location not in INITIAL_LOCATIONS:
            raise ValueError(
                f"initial_location must be one of {INITIAL_LOCATIONS}, "
                f"got {self.initial_location!r}"
            )
        check_int("num_glimpses", self.num_glimpses)
        check_glimpse_config(self.glimpse_size, self.num_scales, self.scale_factor)
        if self.classes is not None:
            check_int("classes", self.classes, minimum=2, note="or None: 10")
        if self.channels is not None:
            check_int("channels", self.channels, note="or None: the source's")
        check_int("context_size", self.context_size, minimum=0)
        largest = self.glimpse_size * self.scale_factor ** (self.num_scales - 1)
        if largest > MAX_PATCH_SIDE:
            raise ValueError(
                f"the largest patch would be {self.glimpse_size} * {self.scale_factor}**"
                f"{self.num_scales - 1} pixels a side, over {MAX_PATCH_SIDE:,}: lower num_scales "
                "or scale_factor"
            )
        check_memory("one environment of this task", self.memory_needs())

    def memory_needs(self) -> dict[str, int]:
        """Bytes the largest allocations of one environment take, by the field that sizes them
        (estimates: the canvas and its integral image, the glimpse and its space's bounds, the
        per-step and per-distractor arrays)."""
        planes = self.channels or 1
        needs = {
            "glimpse_size": 12 * planes * self.num_scales * self.glimpse_size**2,
            "num_glimpses": 64 * (self.num_glimpses * self.num_digits + 1),
            "num_distractors": 64 * distractor_range(self.num_distractors)[1],
            "context_size": 12 * planes * self.context_size**2,
        }
        if self.dataset_path is None:  # a file's canvases are sized by the file
            needs["canvas_size"] = 12 * planes * (self.canvas_size + 1) ** 2
        return needs

    @property
    def episode_length(self) -> int:
        """Steps per episode: ``num_glimpses * num_digits``, plus the first move when
        ``initial_location="agent"``."""
        return self.num_glimpses * self.num_digits + self.first_move

    @property
    def first_move(self) -> int:
        """1 if the episode starts with a step that only moves (``initial_location="agent"``)."""
        return int(self.initial_location == "agent")

    @property
    def num_classes(self) -> int:
        """Classes of the label action: ``classes`` (10 digits by default), or the
        ``(classes - 1) * num_digits + 1`` possible sums."""
        per_answer = self.classes or NUM_CLASSES
        return (per_answer - 1) * self.num_digits + 1 if self.target == "sum" else per_answer

    @property
    def answers_per_episode(self) -> int:
        """How many labels an episode scores: ``num_digits`` (sequence) or 1 (sum)."""
        return 1 if self.target == "sum" else self.num_digits

    @property
    def answer_steps(self) -> tuple[int, ...]:
        """The step numbers (1-based, counted from reset) whose label is scored."""
        length = self.episode_length
        if self.target == "sum":
            return (length,)
        return tuple(range(self.num_glimpses + self.first_move, length + 1, self.num_glimpses))


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
    return check_int("num_envs", num_envs)


def task_answers(labels: torch.Tensor, target: str) -> torch.Tensor:
    """``(N, A)`` int64 answers of canvases whose digits are ``labels`` ``(N, D)`` (reading
    order): the digits themselves (``target="sequence"``, ``A = D``), or their sum
    (``target="sum"``, ``A = 1``). The one statement of what a task asks for."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    return labels.sum(1, keepdim=True) if target == "sum" else labels


def task_config(**task: Any) -> TaskConfig:
    """:class:`TaskConfig` from keyword arguments, with one clear error for an unknown name."""
    known = [f.name for f in dataclasses.fields(TaskConfig)]
    unknown = sorted(set(task) - set(known))
    if unknown:
        raise ValueError(f"unknown task argument(s) {unknown}; the task fields are {known}")
    return TaskConfig(**task)


def require_source(source: object) -> None:
    """The ``source=`` check of ``GlimpseEnv/Images-v0``'s single and vector entry points."""
    if source is None:
        raise ValueError(
            "GlimpseEnv/Images-v0 needs source=: an ImageSource (glimpse_env.data.sources) or "
            "the path of a dataset file"
        )


def resolve_images(
    source: ImageSource | str | os.PathLike | None, task: dict[str, Any]
) -> tuple[ImageSource | None, dict[str, Any]]:
    """The image source of an env made with ``source=...`` and its task arguments, with the
    canvas size, classes and channels defaulting to the source's.

    Args:
        source: an :class:`glimpse_env.data.sources.ImageSource`, or the path of a dataset file
            (read with :meth:`ImageSource.from_hdf5`); None: no image source (MNIST, or the
            task's ``dataset_path``).
        task: the env's task keyword arguments.

    Raises:
        ValueError: a folder path (build it with ``ImageSource.from_folder(root, size=...)``),
            another type, ``dataset_path`` given too, several objects per canvas, fewer
            ``classes`` than the source has.
    """
    if source is None:
        return None, task
    if isinstance(source, (str, os.PathLike)):
        if os.path.isdir(source):
            raise ValueError(
                f"source={str(source)!r} is a folder: its images need one size, so build the "
                "source with glimpse_env.data.sources.ImageSource.from_folder(root, size=N)"
            )
        source = ImageSource.from_hdf5(source)
    if not isinstance(source, ImageSource):
        raise ValueError(
            "source must be a glimpse_env.data.sources.ImageSource or a dataset file path, got "
            f"{type(source).__name__}"
        )
    if task.get("dataset_path") is not None:
        raise ValueError("give either source= or dataset_path=, not both")
    if task.get("num_digits", 1) != 1:
        raise ValueError("an image source places one image per canvas: num_digits must be 1")
    classes = task.get("classes")
    if classes is not None and classes < source.num_classes:
        raise ValueError(
            f"classes={classes}, but the source has {source.num_classes} classes "
            f"({', '.join(source.class_names)})"
        )
    defaults = dict(canvas_size=source.image_size, classes=source.num_classes)
    return source, {**defaults, **task}


class CanvasSource(Protocol):
    """Anything that returns canvases for ``(key, episode)`` pairs.

    ``num_sources`` is the number of examples the canvases are drawn from (the split's digits or
    the HDF5 split's rows); ``CanvasBatch.sources`` indexes them. ``distinct_canvases`` is how
    many different canvases the source can serve (None: unbounded, as generated canvases).
    ``channels`` is ``C``: canvases are ``(N, H, W)`` uint8 when it is 1, else ``(N, C, H, W)``.
    """

    height: int
    width: int
    channels: int
    num_sources: int
    distinct_canvases: int | None

    def generate(self, keys: np.ndarray, episodes: np.ndarray) -> CanvasBatch: ...


class GeneratedCanvases:
    """Canvases generated on the fly (see :class:`CanvasGenerator`) from the task's MNIST split,
    or from one split of your images (``images``: a :class:`glimpse_env.data.sources.ImageSplit`).
    """

    def __init__(
        self, config: TaskConfig, device: torch.device, images: ImageSplit | None = None
    ) -> None:
        if images is None:
            mnist = load_mnist(config.split, config.data_dir)
            objects, labels = mnist.images, mnist.labels
        else:
            objects, labels = images.channels_first(), images.labels
            if len(labels) == 0:
                raise ValueError(f"split {config.split!r} of the image source has no image")
        self._generator = CanvasGenerator(
            objects,
            labels,
            config.canvas_size,
            config.num_distractors,
            config.distractor_size,
            device,
            config.num_digits,
        )
        self.height = self.width = config.canvas_size
        self.channels = self._generator.channels
        self.num_sources = self._generator.num_sources
        as_they_are = (
            config.canvas_size == self._generator.object_size
            and self._generator.distractor_range == (0, 0)
            and config.num_digits == 1
        )
        #: None: every episode is a new canvas (new positions and clutter); the split's size
        #: when each canvas is an image as it is.
        self.distinct_canvases: int | None = self.num_sources if as_they_are else None

    def generate(self, keys: np.ndarray, episodes: np.ndarray) -> CanvasBatch:
        return self._generator.generate(keys, episodes)


class DatasetCanvases:
    """Canvases served from one split of an HDF5 file, in a fresh keyed permutation per pass."""

    def __init__(self, config: TaskConfig, device: torch.device) -> None:
        assert config.dataset_path is not None  # a DatasetCanvases serves an HDF5 file
        arrays = read_canvas_hdf5(config.dataset_path, config.split)
        if len(arrays) == 0:
            raise ValueError(f"{config.dataset_path}: split {config.split!r} has no rows")
        if arrays.num_digits != config.num_digits:
            raise ValueError(
                f"{config.dataset_path}: its canvases hold {arrays.num_digits} digit(s) each, "
                f"the task asks for num_digits={config.num_digits}"
            )
        classes = config.classes or NUM_CLASSES
        if len(arrays.labels) and int(arrays.labels.max()) >= classes:
            raise ValueError(
                f"{config.dataset_path}: split {config.split!r} has label "
                f"{int(arrays.labels.max())}, outside 0..{classes - 1}; pass classes=N for a file "
                "with N classes"
            )
        images = torch.from_numpy(arrays.images).to(device)
        if images.ndim == 4:  # channels-last memory, as generated canvases (retina.integral_image)
            images = images.contiguous(memory_format=torch.channels_last)
        self._images = images
        self._labels = torch.from_numpy(arrays.labels).to(device)
        self._bboxes = torch.from_numpy(arrays.bboxes).to(device)
        self._affine = torch.from_numpy(arrays.affine).to(device)
        self.height, self.width = arrays.images.shape[-2:]
        self.channels = arrays.channels
        self.num_sources = len(self._labels)
        #: The split's rows: a pass over more episodes serves the same canvases again.
        self.distinct_canvases: int | None = len(self._labels)

    def generate(self, keys: np.ndarray, episodes: np.ndarray) -> CanvasBatch:
        n = len(self._labels)
        episodes = np.asarray(episodes, dtype=np.int64)
        indices = permutation_index(keys, episodes // n, episodes % n, n)
        rows = torch.from_numpy(indices).to(self._images.device)
        return CanvasBatch(
            self._images[rows], self._labels[rows], self._bboxes[rows], torch.as_tensor(rows),
            affine=self._affine[rows],
        )  # fmt: skip


def make_canvas_source(config: TaskConfig, device: torch.device) -> CanvasSource:
    """The canvases of ``config``: its dataset file's split, or generated from MNIST."""
    source: CanvasSource
    if config.dataset_path is not None:
        source = DatasetCanvases(config, device)
    else:
        source = GeneratedCanvases(config, device)
    check_channels(config, source)
    return source


def check_channels(config: TaskConfig, source: CanvasSource) -> None:
    """Raise ``ValueError`` when ``config.channels`` is set and the source has other."""
    if config.channels is not None and config.channels != source.channels:
        raise ValueError(
            f"the task asks for channels={config.channels}, its source has {source.channels} "
            f"({config.dataset_path or 'MNIST'}); leave channels=None to take the source's"
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
