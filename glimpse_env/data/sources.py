"""Labelled image sets of your own, in ``train`` / ``valid`` / ``test`` splits: one type for all.

An :class:`ImageSource` holds square uint8 images of one side and one channel count, with their
labels (and, optionally, the box of the object in each image), split three ways. Every way of
bringing images makes one:

- :meth:`ImageSource.from_arrays`: in-memory ``(N, H, W)`` or ``(N, H, W, C)`` arrays;
- :meth:`ImageSource.from_folder`: a folder of class folders (torchvision's ``ImageFolder``
  layout, :mod:`glimpse_env.data.folder`);
- :meth:`ImageSource.from_hf`: a Hugging Face ``datasets.Dataset`` or ``DatasetDict`` (the
  optional ``hf`` extra);
- :meth:`ImageSource.from_hdf5`: a dataset file in the schema of :mod:`glimpse_env.data.hdf5`.

All of them are decoded once into memory (the environments compose canvases from the whole split
on every reset, so it is read in full anyway; a set too big for memory should be written once as
a dataset file with a fixed canvas per row and served with ``dataset_path``, which is read per
split). Images of other sizes are fitted inside ``size x size``, keeping their aspect ratio, and
centred on a black square; non-square arrays are padded to a square the same way. A source
without a ``valid`` split holds out a stated, seeded part of ``train`` (and likewise ``test``
when it has none); :attr:`ImageSource.split_note` says what was done and the dataset file records
it.

``gym.make("GlimpseEnv/Images-v0", source=source)`` serves a source: each canvas places one image
of the split at a random position on a ``canvas_size`` canvas (the image's own size by default:
the image as it is), among ``num_distractors`` patches cut from other images of the same split
(the cluttered recipe). :meth:`ImageSource.write_hdf5` writes the images as a dataset file.

Array layout: numpy arrays here are channels last, ``(N, H, W, C)``, as Pillow and most image
libraries hold colour; the environments and the retina work channels first, ``(N, C, H, W)``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from glimpse_env.checks import check_int
from glimpse_env.data.folder import read_image_folder
from glimpse_env.data.hdf5 import (
    SPLIT_ORDER,
    checked_split,
    read_canvas_hdf5,
    split_rows,
    write_dataset,
)
from glimpse_env.data.images import fit_image

#: The splits every source has.
SPLITS = SPLIT_ORDER


@dataclass(frozen=True)
class ImageSplit:
    """One split of a source.

    Attributes:
        images: ``(N, s, s, C)`` uint8 0-255, channels last.
        labels: ``(N,)`` int64 class indices.
        boxes: ``(N, 4)`` int64 pixel boxes ``(x_min, y_min, x_max, y_max)``, max exclusive, of
            the object in each image (the whole image when the source has no boxes).
    """

    images: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def channels_first(self) -> np.ndarray:
        """``(N, C, s, s)``: the images in the environments' layout."""
        return np.ascontiguousarray(np.moveaxis(self.images, -1, 1))


@dataclass(frozen=True)
class ImageSource:
    """A labelled image set in three splits (see the module docstring).

    Attributes:
        splits: ``{"train": ImageSplit, "valid": ..., "test": ...}``; every split's images have
            the same side and channels.
        class_names: the name of each class index (``("0", "1", ...)`` when none were given).
        split_note: how the splits were made (which were given, which were held out of which,
            with what fraction and seed).
        origin: where the images came from (a folder, a file, ``"arrays"``, a dataset name).
    """

    splits: Mapping[str, ImageSplit]
    class_names: tuple[str, ...]
    split_note: str
    origin: str = "arrays"
    attrs: Mapping[str, str | int | float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [name for name in SPLITS if name not in self.splits]
        if missing:
            raise ValueError(f"an image source needs the splits {SPLITS}, lacks {missing}")
        shapes = {name: split.images.shape[1:] for name, split in self.splits.items()}
        if len(set(shapes.values())) != 1:
            raise ValueError(
                f"{self.origin}: every split needs images of one size and channel count, got "
                f"{shapes} (side, side, channels)"
            )
        top = max((int(s.labels.max()) for s in self.splits.values() if len(s)), default=-1)
        if top >= len(self.class_names):
            raise ValueError(
                f"{self.origin}: label {top} has no class name ({len(self.class_names)} classes)"
            )
        if len(self.splits["train"]) == 0:
            raise ValueError(f"{self.origin}: the train split has no image")

    @property
    def image_size(self) -> int:
        """``s``, the side of every (square) image in pixels."""
        return int(self.splits["train"].images.shape[1])

    @property
    def channels(self) -> int:
        """``C``: 1 for grayscale, 3 for RGB."""
        return int(self.splits["train"].images.shape[-1])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __getitem__(self, split: str) -> ImageSplit:
        if split not in self.splits:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return self.splits[split]

    def __len__(self) -> int:
        """Images in all three splits."""
        return sum(len(split) for split in self.splits.values())

    def describe(self) -> str:
        """One line: origin, sizes, classes, split counts and how the splits were made."""
        counts = ", ".join(f"{name} {len(self.splits[name])}" for name in SPLITS)
        return (
            f"{self.origin}: {self.image_size}x{self.image_size}x{self.channels}, "
            f"{self.num_classes} classes; {counts} ({self.split_note})"
        )

    # ---- constructors ----------------------------------------------------------------------
    @classmethod
    def from_arrays(
        cls,
        train: tuple[Any, Any],
        valid: tuple[Any, Any] | None = None,
        test: tuple[Any, Any] | None = None,
        *,
        class_names: Sequence[str] | None = None,
        size: int | None = None,
        valid_fraction: float = 0.1,
        test_fraction: float = 0.1,
        seed: int = 0,
        origin: str = "arrays",
    ) -> ImageSource:
        """A source from ``(images, labels)`` pairs.

        Args:
            train, valid, test: ``(images, labels)`` with ``images`` ``(N, H, W)`` or
                ``(N, H, W, C)`` uint8 0-255 and ``labels`` ``(N,)`` integers ``>= 0``. A
                missing ``valid`` (``test``) is a seeded ``valid_fraction`` (``test_fraction``)
                of ``train``, held out before training.
            class_names: a name per class (default: ``"0"`` .. ``str(max label)``).
            size: fit every image inside ``size x size`` (default: the images' larger side;
                non-square images are centred on a square of that side).
            seed: the seed of the held-out parts.

        Raises:
            ValueError: wrong shapes or types, labels out of range, splits of different
                channel counts, fractions that leave no training image; the message names the
                split and the array.
        """
        check_int("seed", seed, minimum=0)
        if size is not None:
            check_int("size", size, note="pixels")
        given = {"train": train, "valid": valid, "test": test}
        arrays = {
            name: _checked_arrays(name, *pair) for name, pair in given.items() if pair is not None
        }
        channels = {name: images.shape[-1] for name, (images, _) in arrays.items()}
        if len(set(channels.values())) != 1:
            raise ValueError(f"{origin}: splits have different channel counts: {channels}")
        side = size or max(max(images.shape[1:3]) for images, _ in arrays.values())
        splits = {
            name: _fitted_split(images, labels, side) for name, (images, labels) in arrays.items()
        }
        splits, note = _hold_out(splits, valid_fraction, test_fraction, seed)
        top = max(int(s.labels.max()) for s in splits.values() if len(s))
        names = tuple(class_names) if class_names is not None else tuple(map(str, range(top + 1)))
        attrs = dict(valid_fraction=valid_fraction, test_fraction=test_fraction, seed=seed)
        return cls(splits, names, note, origin, attrs)

    @classmethod
    def from_folder(
        cls,
        root: str | os.PathLike,
        size: int,
        channels: int | None = None,
        valid_fraction: float = 0.1,
        test_fraction: float = 0.1,
        seed: int = 0,
    ) -> ImageSource:
        """A source from ``root/<class>/<image>``
        (:func:`glimpse_env.data.folder.read_image_folder`: images fitted inside ``size x size``,
        ``channels`` 1 or 3, or None to take the images' own, which must then agree). One seeded
        permutation of all images: the first ``test_fraction`` go to ``test``, the next
        ``valid_fraction`` to ``valid``."""
        data = read_image_folder(root, size, channels)
        images = data.images if data.images.ndim == 4 else data.images[..., None]
        whole = {"train": ImageSplit(images, data.labels, data.boxes)}
        splits, note = _hold_out(whole, valid_fraction, test_fraction, seed)
        attrs = dict(valid_fraction=valid_fraction, test_fraction=test_fraction, seed=seed)
        return cls(splits, data.class_names, note, str(root), attrs)

    @classmethod
    def from_hdf5(
        cls, path: str | os.PathLike, class_names: Sequence[str] | None = None
    ) -> ImageSource:
        """A source from a dataset file's ``train``, ``valid`` and ``test`` rows (one object per
        row); a file without ``valid`` rows holds out 10% of ``train`` (seed 0)."""
        import h5py

        splits = {}
        with h5py.File(path, "r") as f:
            present = [name for name in SPLITS if _has_split(f, name)]
            recorded = f.attrs.get("classes")
        for name in present:
            arrays = read_canvas_hdf5(path, name)
            if arrays.num_digits != 1:
                raise ValueError(f"{path}: an image source holds one object per image")
            images = arrays.images if arrays.images.ndim == 4 else arrays.images[:, None]
            channels_last = np.ascontiguousarray(np.moveaxis(images, 1, -1))
            splits[name] = _fitted_split(
                channels_last, arrays.labels[:, 0], None, arrays.bboxes[:, 0]
            )
        if "train" not in splits:
            raise ValueError(f"{path}: the file has no train rows")
        splits, note = _hold_out(splits, 0.1, 0.1, 0)
        if class_names is None and recorded is not None:
            text = recorded.decode() if isinstance(recorded, bytes) else str(recorded)
            class_names = tuple(text.split(","))
        top = max(int(s.labels.max()) for s in splits.values() if len(s))
        names = tuple(class_names) if class_names is not None else tuple(map(str, range(top + 1)))
        return cls(splits, names, note, str(path))

    @classmethod
    def from_hf(
        cls,
        dataset: Any,
        size: int | None = None,
        image_column: str = "image",
        label_column: str = "label",
        channels: int | None = None,
        valid_fraction: float = 0.1,
        test_fraction: float = 0.1,
        seed: int = 0,
    ) -> ImageSource:
        """A source from a Hugging Face ``datasets.Dataset`` (one split, held out as
        :meth:`from_arrays` does) or ``DatasetDict`` (its ``train``, and ``validation`` /
        ``valid`` and ``test`` where present). Images are PIL images or arrays; class names come
        from the label column's ``ClassLabel`` feature when it has one. Needs the ``hf`` extra
        (``pip install glimpse-env[hf]``)."""
        try:
            import datasets
        except ImportError as error:  # the optional extra
            raise ImportError(
                "ImageSource.from_hf needs Hugging Face datasets: pip install 'glimpse-env[hf]'"
            ) from error
        if isinstance(dataset, datasets.DatasetDict):
            aliases = {"train": ("train",), "valid": ("validation", "valid"), "test": ("test",)}
            parts = {
                name: next((dataset[a] for a in names if a in dataset), None)
                for name, names in aliases.items()
            }
            if parts["train"] is None:
                raise ValueError(f"the DatasetDict has no train split (has {sorted(dataset)})")
        elif isinstance(dataset, datasets.Dataset):
            parts = {"train": dataset, "valid": None, "test": None}
        else:
            raise ValueError(
                f"expected a datasets.Dataset or DatasetDict, got {type(dataset).__name__}"
            )
        first: Any = parts["train"]
        for column in (image_column, label_column):
            if column not in first.column_names:
                raise ValueError(f"the dataset has no column {column!r} (has {first.column_names})")
        feature = first.features[label_column]
        names = getattr(feature, "names", None)
        decoded = {
            name: _decode_images(part[image_column], channels, f"{name} split")
            for name, part in parts.items()
            if part is not None
        }
        side = size or max(max(max(im.shape[:2]) for im in images) for images in decoded.values())
        pairs = {
            name: (np.stack([fit_image(im, side)[0] for im in decoded[name]]),
                   np.asarray(part[label_column], dtype=np.int64))
            for name, part in parts.items() if part is not None
        }  # fmt: skip
        return cls.from_arrays(
            pairs["train"], pairs.get("valid"), pairs.get("test"), class_names=names, size=side,
            valid_fraction=valid_fraction, test_fraction=test_fraction, seed=seed,
            origin=f"datasets:{getattr(first, 'builder_name', None) or 'in memory'}",
        )  # fmt: skip

    # ---- output ----------------------------------------------------------------------------
    def write_hdf5(self, path: str | os.PathLike) -> Path:
        """Write the three splits as a dataset file (:func:`glimpse_env.data.hdf5.write_dataset`),
        one image per row with its box, and the classes, origin and split note as attributes."""
        return write_dataset(
            path,
            {name: (s.images if s.images.shape[-1] > 1 else s.images[..., 0], s.labels, s.boxes)
             for name, s in self.splits.items()},
            classes=",".join(self.class_names), source=self.origin, split_note=self.split_note,
            **self.attrs,
        )  # fmt: skip


def _has_split(f: Any, name: str) -> bool:
    try:
        split_rows(f, name)
    except ValueError:
        return False
    return True


def _checked_arrays(name: str, images: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, H, W, C) uint8, labels (N,) int64)``, checked as a dataset file's split
    (:func:`glimpse_env.data.hdf5.checked_split`, so every source can be written), or one error
    naming the split."""
    values = np.asarray(labels)
    if not (np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.bool_)):
        raise ValueError(
            f"split {name!r}: labels must be integers 0, 1, ... (class indices), got "
            f"{values.dtype} (map names to indices and pass class_names=...)"
        )
    checked, labels_, _ = checked_split(name, images, labels)
    if labels_.shape[1] != 1:
        raise ValueError(f"split {name!r}: labels must be (N,), one class per image")
    return np.moveaxis(checked, 1, -1), labels_[:, 0]


def _fitted_split(
    images: np.ndarray, labels: np.ndarray, side: int | None, boxes: np.ndarray | None = None
) -> ImageSplit:
    """An :class:`ImageSplit` of ``(N, H, W, C)`` images fitted inside ``side x side``."""
    height, width = images.shape[1:3]
    side = side or max(height, width)
    if (height, width) == (side, side):
        full = np.tile(np.array([0, 0, side, side], np.int64), (len(images), 1))
        return ImageSplit(images, labels, full if boxes is None else np.asarray(boxes, np.int64))
    fitted = [fit_image(image, side) for image in images]
    canvases = (
        np.stack([c for c, _ in fitted])
        if fitted
        else np.zeros((0, side, side, images.shape[-1]), np.uint8)
    )
    return ImageSplit(canvases, labels, np.array([b for _, b in fitted], np.int64).reshape(-1, 4))


def _hold_out(
    splits: dict[str, ImageSplit], valid_fraction: float, test_fraction: float, seed: int
) -> tuple[dict[str, ImageSplit], str]:
    """Fill a missing ``test`` and ``valid`` with seeded parts of ``train``; say what was done."""
    if not (0 <= valid_fraction < 1 and 0 <= test_fraction < 1):
        raise ValueError(f"fractions must be in [0, 1), got {valid_fraction}, {test_fraction}")
    missing = [name for name in ("test", "valid") if name not in splits]
    if not missing:
        return splits, "train, valid and test as given"
    train = splits["train"]
    fractions = {"test": test_fraction, "valid": valid_fraction}
    counts = {name: round(len(train) * fractions[name]) for name in missing}
    if sum(counts.values()) >= len(train):
        raise ValueError(
            f"{len(train)} training images leave none for training after holding out {counts}"
        )
    order = np.random.default_rng(seed).permutation(len(train))
    start, out = 0, dict(splits)
    for name in missing:
        rows = order[start : start + counts[name]]
        out[name] = ImageSplit(train.images[rows], train.labels[rows], train.boxes[rows])
        start += counts[name]
    rows = np.sort(order[start:])
    out["train"] = ImageSplit(train.images[rows], train.labels[rows], train.boxes[rows])
    held = ", ".join(
        f"{name} {fractions[name]:g} of the images ({counts[name]})" for name in missing
    )
    return out, f"held out of train with seed {seed}: {held}"


def _decode_images(column: Sequence[Any], channels: int | None, where: str) -> list[np.ndarray]:
    """``(H, W, C)`` uint8 arrays from PIL images or arrays, with one channel count (``channels``,
    or the first image's: a later image with another count is an error naming it)."""
    out: list[np.ndarray] = []
    for index, item in enumerate(column):
        if isinstance(item, Image.Image):
            mode = {1: "L", 3: "RGB"}.get(channels or 0) or (
                "L" if item.mode in ("L", "1", "I", "I;16", "F") else "RGB"
            )
            array = np.asarray(item.convert(mode), np.uint8)
        else:
            array = np.asarray(item)
            if array.dtype != np.uint8:
                raise ValueError(f"{where}: image {index} is {array.dtype}, expected uint8 0-255")
        array = array[..., None] if array.ndim == 2 else array
        if array.ndim != 3:
            raise ValueError(
                f"{where}: image {index} has shape {array.shape}, expected (H, W[, C])"
            )
        wanted = channels or (out[0].shape[-1] if out else array.shape[-1])
        if array.shape[-1] != wanted:
            raise ValueError(
                f"{where}: image {index} has {array.shape[-1]} channel(s), the others "
                f"{wanted}: pass channels=1 or channels=3 to convert every image"
            )
        out.append(array)
    if not out:
        raise ValueError(f"{where}: no images")
    return out


def folder_to_dataset(
    root: str | os.PathLike,
    output: str | os.PathLike,
    size: int,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    channels: int | None = None,
) -> tuple[Path, ImageSource]:
    """Read ``root`` and write it as a dataset file with ``train`` / ``valid`` / ``test`` rows.

    The split is a seeded permutation of all images: the first ``test_fraction`` go to
    ``test``, the next ``valid_fraction`` to ``valid``, the rest to ``train``
    (:meth:`ImageSource.from_folder`); the file's attributes record the classes, the fractions,
    the seed and the source folder.

    Raises:
        ValueError: see :func:`glimpse_env.data.folder.read_image_folder`; fractions outside
            [0, 1) or leaving no training image.
    """
    source = ImageSource.from_folder(root, size, channels, valid_fraction, test_fraction, seed)
    return source.write_hdf5(output), source
