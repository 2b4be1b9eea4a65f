"""Where an env's canvases come from: generated from MNIST or an image source
(:class:`GeneratedCanvases`), or read from a dataset file (:class:`DatasetCanvases`), behind one
:class:`CanvasSource` protocol (:func:`make_canvas_source`)."""

from __future__ import annotations

import os
from typing import Any, Protocol

import numpy as np
import torch

from glimpse_env.data.canvas import (
    CanvasBatch,
    CanvasGenerator,
)
from glimpse_env.data.hdf5 import read_canvas_hdf5
from glimpse_env.data.mnist import load_mnist
from glimpse_env.data.sources import ImageSource, ImageSplit
from glimpse_env.envs.task import NUM_CLASSES, TaskConfig
from glimpse_env.keyed_random import permutation_index


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
