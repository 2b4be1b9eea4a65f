"""The glimpse task's parameters: :class:`TaskConfig` (checked when it is built, sizes against
the machine's memory included), what an episode asks for (:func:`task_answers`) and the
checks of the arguments every env takes (``device``, ``num_envs``)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

import torch

from glimpse_env.checks import check_int, check_memory
from glimpse_env.data.canvas import (
    distractor_range,
    min_canvas_size,
)
from glimpse_env.data.mnist import SPLITS
from glimpse_env.retina import (
    check_glimpse_config,
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


class UnexpectedArgumentError(TypeError, ValueError):
    """An unknown keyword given to an env or a task. A ``TypeError`` worded as Python words it
    (``"... unexpected keyword argument 'frameskip'"``), so that clients that retry without an
    argument the env does not take (torchrl's ``GymEnv`` and ``frameskip``) can; and a
    ``ValueError``, as every other bad value here."""


def task_config(**task: Any) -> TaskConfig:
    """:class:`TaskConfig` from keyword arguments, with one clear error for an unknown name.

    Raises:
        UnexpectedArgumentError: a keyword that is not a task field (the first is named as
            Python names it, every one is listed with the task fields).
    """
    known = [f.name for f in dataclasses.fields(TaskConfig)]
    unknown = sorted(set(task) - set(known))
    if unknown:
        raise UnexpectedArgumentError(
            f"got an unexpected keyword argument {unknown[0]!r} (unknown task argument(s) "
            f"{unknown}; the task fields are {known})"
        )
    return TaskConfig(**task)
