"""Fixed canvas datasets in HDF5, compatible with the ``mnist_cluttered.hdf5`` files of EDRAM.

Schema (what :func:`write_canvas_hdf5` writes and :func:`read_canvas_hdf5` expects):

============  ===============  =============================================================
dataset       shape / dtype    content
============  ===============  =============================================================
features      (N, C, H, W) u8  canvases, intensities 0-255: ``C = 1`` in EDRAM's files,
                               3 for RGB ((N, H, W) is accepted on read)
labels        (N,) u8          class ((N, 1) is accepted on read)
locations     (N, 6) f4        affine ``(sx, 0, tx, 0, sy, ty)``: ``sx = 28 / W``,
                               ``sy = 28 / H``, ``(tx, ty)`` the digit centre in [-1, 1]
============  ===============  =============================================================

Canvases with ``D > 1`` digits (the multi-object tasks) store ``labels`` as ``(N, D)`` and
``locations`` as ``(N, D, 6)``, the digits in reading order; the single-digit layout above is
unchanged, so EDRAM's files and ours stay interchangeable.

The root attribute ``split`` is a Fuel ``H5PYDataset`` split array: one row per
``(split, source)`` with fields ``split``, ``source``, ``start``, ``stop`` (and, in files written
by newer Fuel or by us, ``indices``, ``available``, ``comment``). We write the train rows first
(``[0, num_train)``) then the test rows. Files are written to a temporary name and renamed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from tqdm.auto import tqdm

from glimpse_env.atomic import atomic_path
from glimpse_env.checks import check_int, check_memory
from glimpse_env.data.canvas import CanvasGenerator, affine_to_bboxes, bboxes_to_affine
from glimpse_env.data.mnist import load_mnist
from glimpse_env.keyed_random import key_from_generator

SOURCES = ("features", "labels", "locations")
SCHEMA = (
    "datasets 'features' (N, C, H, W) uint8 0-255, 'labels' (N,) uint8, 'locations' (N, 6) "
    "float32 affine (sx, 0, tx, 0, sy, ty) (with D digits per canvas: (N, D) and (N, D, 6)); "
    "root attribute 'split': a Fuel split array with fields split, source, start, stop"
)


@dataclass(frozen=True)
class CanvasArrays:
    """One split of a canvas dataset in memory.

    ``D`` is the number of digits per canvas (1 in EDRAM's layout).

    Attributes:
        images: ``(N, H, W)`` uint8 0-255, or ``(N, C, H, W)`` for ``C > 1`` channels.
        labels: ``(N, D)`` int64.
        affine: ``(N, D, 6)`` float32 ``(sx, 0, tx, 0, sy, ty)``.
        bboxes: ``(N, D, 4)`` int64 pixel boxes ``(x_min, y_min, x_max, y_max)``, max exclusive.
    """

    images: np.ndarray
    labels: np.ndarray
    affine: np.ndarray
    bboxes: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_digits(self) -> int:
        return int(self.labels.shape[1])

    @property
    def channels(self) -> int:
        """``C``: 1 for ``(N, H, W)`` images."""
        return int(self.images.shape[1]) if self.images.ndim == 4 else 1


#: The data of Ablavatski et al. (2017): DeepMind's generator at 100x100 with 5 distractors
#: (8x8), 70,000 canvases all drawn from the training digits, split 60,000 / 10,000 into train
#: and test. The valid rows (10,000 more, also from the training digits) are ours, so that
#: models can be chosen without looking at the test rows. The authors' test canvases reuse the
#: training digits; the env's ``ClutteredMNIST100-v0`` test split (8 distractors, unseen test
#: digits) is the harder, clean measure.
AUTHORS_RECIPE = dict(
    canvas_size=100, num_distractors=5, distractor_size=8, num_train=60_000, num_valid=10_000,
    num_test=10_000, digit_split="train",
)  # fmt: skip


def _split_array(rows: dict[str, tuple[int, int]]) -> np.ndarray:
    """Fuel split array: every split provides every source over the same row range."""
    dtype = np.dtype(
        [
            ("split", "S5"),
            ("source", "S9"),
            ("start", np.int64),
            ("stop", np.int64),
            ("indices", h5py.ref_dtype),
            ("available", np.bool_),
            ("comment", "S1"),
        ]
    )
    table = np.zeros(len(rows) * len(SOURCES), dtype=dtype)
    for i, (split, (start, stop)) in enumerate(item for item in rows.items() for _ in SOURCES):
        table[i] = (split, SOURCES[i % len(SOURCES)], start, stop, h5py.Reference(), True, b".")
    return table


def _create_layout(
    f: h5py.File, total: int, height: int, width: int, num_digits: int, channels: int = 1
) -> tuple[h5py.Dataset, h5py.Dataset, h5py.Dataset]:
    """Create the schema's ``features``, ``labels`` and ``locations`` datasets for ``total``
    rows of ``channels x height x width`` canvases with ``num_digits`` answers each."""
    features = f.create_dataset(
        "features", (total, channels, height, width), dtype=np.uint8,
        chunks=(max(1, min(total, 256)), channels, height, width),
    )  # fmt: skip
    per_digit = (num_digits,) if num_digits > 1 else ()
    labels = f.create_dataset("labels", (total, *per_digit), dtype=np.uint8)
    locations = f.create_dataset("locations", (total, *per_digit, 6), dtype=np.float32)
    for axis, name in enumerate(("batch", "channel", "height", "width")):
        features.dims[axis].label = name
    labels.dims[0].label = "batch"
    locations.dims[0].label = "batch"
    locations.dims[locations.ndim - 1].label = "affine"
    return features, labels, locations


#: The splits a file holds, in the order their rows are written.
SPLIT_ORDER = ("train", "valid", "test")


def write_dataset(
    path: str | os.PathLike,
    splits: Mapping[str, tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray]],
    **attrs: str | int | float,
) -> Path:
    """Write your own labelled canvases as a dataset file in this module's schema, which
    ``gym.make(id, dataset_path=path)`` serves and EDRAM trains on.

    Args:
        path: the file to write (atomically: a temporary name, then a rename).
        splits: ``{"train": (images, labels[, bboxes]), "valid": ..., "test": ...}`` (any
            subset). ``images``: ``(N, H, W)`` uint8 0-255, or ``(N, H, W, C)`` with ``C``
            channels last (as Pillow and numpy hold colour images; stored channels first), the
            same ``H x W`` and ``C`` in every split;
            ``labels``: ``(N,)`` (or ``(N, D)`` for ``D`` objects per canvas, in reading order)
            integers 0-255; ``bboxes``: ``(N, 4)`` (or ``(N, D, 4)``) pixel boxes ``(x_min,
            y_min, x_max, y_max)``, max exclusive, of the objects (default: the whole canvas),
            stored as the affine ``locations``.
        attrs: more root attributes (strings or numbers), e.g. where the images came from.

    Raises:
        ValueError: an unknown split, no rows, or arrays of the wrong shape, type or range;
            the message names the split and the array.
    """
    unknown = sorted(set(splits) - set(SPLIT_ORDER))
    if unknown or not splits:
        raise ValueError(f"splits must be among {SPLIT_ORDER}, got {sorted(splits)}")
    checked = {name: checked_split(name, *splits[name]) for name in SPLIT_ORDER if name in splits}
    shapes = {name: images.shape[1:] for name, (images, _, _) in checked.items()}  # (C, H, W)
    digits = {name: labels.shape[1] for name, (_, labels, _) in checked.items()}
    if len(set(shapes.values())) != 1 or len(set(digits.values())) != 1:
        raise ValueError(
            f"every split needs the same canvas size and objects per canvas, got {shapes} and "
            f"{digits}"
        )
    (channels, height, width), num_digits = next(iter(shapes.values())), next(iter(digits.values()))
    total = sum(len(labels) for _, labels, _ in checked.values())
    if total == 0:
        raise ValueError("the splits hold no rows")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            features, labels_set, locations = _create_layout(
                f, total, height, width, num_digits, channels
            )
            rows, offset = {}, 0
            for name, (images, labels, bboxes) in checked.items():
                count = len(labels)
                rows[name] = (offset, offset + count)
                if count:
                    block = slice(offset, offset + count)
                    features[block] = images
                    affine = bboxes_to_affine(bboxes, height, width)  # (N, D, 6)
                    one = num_digits == 1  # the single-object layout: (N,) and (N, 6)
                    labels_set[block] = (labels[:, 0] if one else labels).astype(np.uint8)
                    locations[block] = affine[:, 0] if one else affine
                offset += count
            f.attrs["split"] = _split_array(rows)
            f.attrs.update(generator="glimpse_env.data.hdf5.write_dataset", num_digits=num_digits)
            f.attrs.update(attrs)
    return path


def checked_split(
    name: str, images: np.ndarray, labels: np.ndarray, bboxes: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(images (N, C, H, W) uint8, labels (N, D) int64, bboxes (N, D, 4))`` of one split,
    or one ``ValueError`` naming the split and the array at fault."""
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim not in (3, 4) or images.dtype != np.uint8 or 0 in images.shape[1:]:
        raise ValueError(
            f"split {name!r}: images must be (N, H, W) or (N, H, W, C) uint8 0-255, got "
            f"{images.shape} {images.dtype}"
        )
    images = images[:, None] if images.ndim == 3 else np.moveaxis(images, -1, 1)
    if labels.ndim == 1:
        labels = labels[:, None]
    if labels.ndim != 2 or len(labels) != len(images):
        raise ValueError(
            f"split {name!r}: labels must be (N,) or (N, D) with N = {len(images)} images, got "
            f"{labels.shape}"
        )
    out_of_range = labels.size > 0 and (labels.min() < 0 or labels.max() > 255)
    if not np.issubdtype(labels.dtype, np.integer) or out_of_range:
        raise ValueError(f"split {name!r}: labels must be integers 0-255")
    count, digits = labels.shape
    height, width = images.shape[2:]
    if bboxes is None:
        return images, labels.astype(np.int64), np.tile([0, 0, width, height], (count, digits, 1))
    boxes = np.asarray(bboxes)
    if boxes.shape not in ((count, digits, 4), (count, 4) if digits == 1 else ()):
        raise ValueError(
            f"split {name!r}: bboxes must be (N, 4) or (N, D, 4) with N = {count}, D = {digits}, "
            f"got {boxes.shape}"
        )
    return images, labels.astype(np.int64), boxes.reshape(count, digits, 4)


def _chunks(total: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, total, size):
        yield start, min(start + size, total)


def write_canvas_hdf5(
    path: str | os.PathLike,
    num_train: int = 50000,
    num_test: int = 10000,
    num_valid: int = 10000,
    canvas_size: int = 100,
    num_distractors: int | tuple[int, int] = 8,
    distractor_size: int = 8,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    chunk_size: int = 1000,
    progress: bool = True,
    digit_split: str | None = None,
    num_digits: int = 1,
) -> Path:
    """Generate a fixed dataset of canvases and write it in the ``mnist_cluttered.hdf5`` schema.

    Rows are written in the order train, valid, test; each split's canvases (distractors too) come
    from that split's digits (:data:`glimpse_env.data.mnist.SPLITS`: train = MNIST training
    digits 0-49,999, valid = 50,000-59,999, test = the test digits), unless ``digit_split``
    names one MNIST split that every file split draws from (the authors' recipe,
    :data:`AUTHORS_RECIPE`: all canvases from the training digits). ``num_digits > 1`` writes
    the multi-digit layout (module docstring). The file is written to a temporary name in the
    same directory and renamed when complete.
    """
    counts = {"train": num_train, "valid": num_valid, "test": num_test}
    check_int("chunk_size", chunk_size, note="canvases per batch")
    if any(c < 0 for c in counts.values()) or sum(counts.values()) == 0:
        raise ValueError(f"need non-negative canvas counts, not all zero: {counts}")
    if digit_split is not None and digit_split not in counts:
        raise ValueError(
            f"digit_split must be one of {sorted(counts)} or None, got {digit_split!r}"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    # Keys drawn in the order train, test, valid: files written before the valid split existed
    # keep their train and test rows for the same seed.
    keys = {name: key_from_generator(rng) for name in ("train", "test", "valid")}
    plan = [(name, counts[name], keys[name]) for name in ("train", "valid", "test")]
    total = sum(counts.values())
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            per_digit = (num_digits,) if num_digits > 1 else ()
            features, labels, locations = _create_layout(
                f, total, canvas_size, canvas_size, num_digits
            )
            rows, offset = {}, 0
            with tqdm(
                total=total, desc=f"writing {path.name}", unit="canvas", disable=not progress
            ) as bar:
                for split, count, key in plan:
                    rows[split] = (offset, offset + count)
                    if count == 0:
                        continue
                    mnist = load_mnist(digit_split or split, data_dir)
                    generator = CanvasGenerator(
                        mnist.images, mnist.labels, canvas_size, num_distractors,
                        distractor_size, num_digits=num_digits,
                    )  # fmt: skip
                    for start, stop in _chunks(count, chunk_size):
                        episodes = np.arange(start, stop, dtype=np.int64)
                        batch = generator.generate(np.full(len(episodes), key, np.uint64), episodes)
                        rows_ = slice(offset + start, offset + stop)
                        features[rows_] = batch.images.numpy()[:, None]
                        shape = (len(episodes), *per_digit)
                        labels[rows_] = batch.labels.numpy().astype(np.uint8).reshape(shape)
                        affine = bboxes_to_affine(batch.bboxes, canvas_size, canvas_size)
                        locations[rows_] = affine.reshape(*shape, 6)
                        bar.update(stop - start)
                    offset += count
            f.attrs["split"] = _split_array(rows)
            f.attrs.update(
                generator="glimpse_env",
                canvas_size=canvas_size,
                num_distractors=num_distractors,
                distractor_size=distractor_size,
                num_digits=num_digits,
                seed=seed,
                digits=f"{digit_split} for every split" if digit_split else "each split's own",
            )  # fmt: skip
    return path


def _text(value: object) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def split_rows(f: h5py.File, split: str) -> tuple[int, int]:
    """``(start, stop)`` rows of ``split`` from the ``split`` attribute (same for all sources)."""
    where = f"{f.filename}"
    if "split" not in f.attrs:
        raise ValueError(f"{where}: no root attribute 'split'. Expected {SCHEMA}")
    table = np.asarray(f.attrs["split"])
    names = table.dtype.names or ()
    missing = {"split", "source", "start", "stop"} - set(names)
    if missing:
        raise ValueError(
            f"{where}: attribute 'split' lacks fields {sorted(missing)} (has {list(names)}). "
            f"Expected {SCHEMA}"
        )
    ranges = {
        _text(row["source"]): (int(row["start"]), int(row["stop"]))
        for row in table
        if _text(row["split"]) == split and ("available" not in names or bool(row["available"]))
    }
    if not ranges:
        available = sorted({_text(row["split"]) for row in table})
        raise ValueError(f"{where}: no split {split!r}; the file has {available}")
    if not set(SOURCES) <= set(ranges):
        raise ValueError(
            f"{where}: split {split!r} provides {sorted(ranges)}, need {list(SOURCES)}"
        )
    if len({ranges[s] for s in SOURCES}) != 1:
        raise ValueError(f"{where}: split {split!r} has different rows per source: {ranges}")
    return ranges["features"]


#: Plausible affine values: scales (sx, sy) in (0, MAX_SCALE], box centres (tx, ty) within
#: [-MAX_CENTRE, MAX_CENTRE] (the canvas is [-1, 1]); anything else is a corrupt row.
MAX_SCALE, MAX_CENTRE = 8.0, 2.0


def check_locations(affine: np.ndarray, path: str | os.PathLike, first_row: int = 0) -> None:
    """Raise ``ValueError`` naming the file and row of the first non-finite or absurd
    ``(sx, 0, tx, 0, sy, ty)`` location (rows counted in the file, from ``first_row``);
    ``affine`` is ``(N, 6)`` or ``(N, D, 6)``."""
    affine = affine.reshape(len(affine), -1, 6)
    scales, centres = affine[..., [0, 4]], affine[..., [2, 5]]
    bad = ~np.isfinite(affine).all(axis=(1, 2))
    bad |= ~((scales > 0) & (scales <= MAX_SCALE)).all(axis=(1, 2))
    bad |= ~(np.abs(centres) <= MAX_CENTRE).all(axis=(1, 2))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        shown = affine[row, 0] if affine.shape[1] == 1 else affine[row]
        raise ValueError(
            f"{path}: 'locations' row {first_row + row} is {shown.tolist()}: expected finite "
            f"(sx, 0, tx, 0, sy, ty) with sx, sy in (0, {MAX_SCALE:g}] and |tx|, |ty| <= "
            f"{MAX_CENTRE:g} ({int(bad.sum())} such rows)"
        )


#: How much smaller than its size a dataset may be stored (compression) before the file is
#: taken to claim rows it does not hold.
MAX_COMPRESSION = 1000


def check_stored(path: Path, datasets: Mapping[str, Any], start: int, stop: int) -> None:
    """Refuse, before reading rows ``[start, stop)``, datasets that claim more than the file
    holds (never written, or far larger than what is stored) or more than this machine's
    memory."""
    needs = {}
    for name, dataset in datasets.items():
        row = int(np.prod(dataset.shape[1:], dtype=np.int64)) * dataset.dtype.itemsize
        needs[f"'{name}' ({dataset.shape[0]:,} rows)"] = (stop - start) * row
        nominal = dataset.shape[0] * row
        stored = dataset.id.get_storage_size()
        if nominal > (1 << 26) and stored * MAX_COMPRESSION < nominal:
            raise ValueError(
                f"{path}: dataset {name!r} claims {dataset.shape} ({nominal / 2**30:,.1f} GiB) "
                f"but the file stores {stored:,} bytes of it: it was never written, or the file "
                "is truncated or crafted"
            )
    check_memory(f"{path}: reading rows {start}..{stop}", needs)


def read_canvas_hdf5(path: str | os.PathLike, split: str = "train") -> CanvasArrays:
    """Read one split of a canvas dataset (ours or any file in the same schema) into memory.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: not an HDF5 file, or the schema differs; the message lists what was expected.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"canvas dataset not found: {path}")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{path}: not a readable HDF5 file ({exc})") from exc
    with f:
        absent = [name for name in SOURCES if name not in f]
        if absent:
            raise ValueError(
                f"{path}: missing datasets {absent} (has {list(f)}). Expected {SCHEMA}"
            )
        features, labels, locations = (f[name] for name in SOURCES)
        problems = []
        if features.dtype != np.uint8 or features.ndim not in (3, 4) or 0 in features.shape[1:]:
            problems.append(f"'features' is {features.dtype} {features.shape}")
        digits = labels.shape[1] if labels.ndim == 2 else 1
        if labels.ndim not in (1, 2) or digits < 1:
            problems.append(f"'labels' has shape {labels.shape}")
        if not np.issubdtype(labels.dtype, np.integer):
            problems.append(f"'labels' is {labels.dtype}")
        single = locations.ndim == 2 and locations.shape[1:] == (6,) and digits == 1
        if not single and locations.shape[1:] != (digits, 6):
            problems.append(
                f"'locations' has shape {locations.shape} for labels of shape {labels.shape}"
            )
        if len({len(features), len(labels), len(locations)}) != 1:
            problems.append(
                f"row counts differ: {len(features)} features, {len(labels)} labels, "
                f"{len(locations)} locations"
            )
        if problems:
            raise ValueError(f"{path}: wrong schema: {'; '.join(problems)}. Expected {SCHEMA}")
        start, stop = split_rows(f, split)
        if not 0 <= start <= stop <= len(features):
            raise ValueError(f"{path}: split {split!r} rows [{start}, {stop}) outside the file")
        check_stored(path, {name: f[name] for name in SOURCES}, start, stop)
        images = features[start:stop]
        if images.ndim == 4 and images.shape[1] == 1:  # one channel: (N, H, W)
            images = images[:, 0]
        labels_ = labels[start:stop].reshape(stop - start, digits).astype(np.int64)
        affine = locations[start:stop].astype(np.float32).reshape(stop - start, digits, 6)
    if labels_.size and (labels_.min() < 0 or labels_.max() > 255):
        raise ValueError(f"{path}: labels must be 0-255 (classes)")
    check_locations(affine, path, start)
    height, width = images.shape[-2:]
    return CanvasArrays(
        images=images, labels=labels_, affine=affine, bboxes=affine_to_bboxes(affine, height, width)
    )


def write_cluttered_dataset(
    path: str | os.PathLike,
    objects: Mapping[str, tuple[np.ndarray, np.ndarray]],
    counts: Mapping[str, int],
    canvas_size: int,
    num_distractors: int | tuple[int, int] = 4,
    distractor_size: int = 8,
    num_objects: int = 1,
    seed: int = 0,
) -> Path:
    """The cluttered recipe over your own objects: each canvas places ``num_objects`` objects of
    a split (non-overlapping, in reading order) among ``num_distractors`` patches cut from other
    objects of the same split, as DeepMind's mnist-cluttered does with digits; written with
    :func:`write_dataset`.

    Args:
        path: the file to write.
        objects: ``{split: (images (M, s, s) uint8, labels (M,))}``: square objects of one side
            ``s`` in every split, or ``(M, s, s, C)`` colour ones, channels last
            (``glimpse_env.data.folder.read_image_folder`` makes them from a folder of images).
        counts: canvases per split, e.g. ``{"train": 20000, "valid": 2000, "test": 2000}``.
        canvas_size, num_distractors, distractor_size, num_objects: as the envs' task fields
            (:class:`glimpse_env.envs.TaskConfig`).
        seed: keys the canvases of every split.

    Raises:
        ValueError: a split in ``counts`` without objects, or objects and settings that do not
            fit (see :class:`glimpse_env.data.canvas.CanvasGenerator`).
    """
    missing = sorted(set(counts) - set(objects))
    if missing:
        raise ValueError(f"counts names splits without objects: {missing}")
    rng = np.random.default_rng(seed)
    keys = {name: key_from_generator(rng) for name in SPLIT_ORDER}
    splits = {}
    for name in SPLIT_ORDER:
        if name not in counts:
            continue
        images, labels = objects[name]
        images = np.asarray(images)
        if images.ndim == 4:  # channels last -> the generator's (M, C, s, s)
            images = np.ascontiguousarray(np.moveaxis(images, -1, 1))
        generator = CanvasGenerator(
            images, np.asarray(labels), canvas_size, num_distractors,
            distractor_size, num_digits=num_objects,
        )  # fmt: skip
        parts = []  # composed in chunks: the int16 working canvas stays small
        for start, stop in _chunks(counts[name], 1000):
            episodes = np.arange(start, stop, dtype=np.int64)
            batch = generator.generate(np.full(len(episodes), keys[name], np.uint64), episodes)
            canvases = batch.images.numpy()
            if canvases.ndim == 4:  # (N, C, H, W) -> write_dataset's channels last
                canvases = np.moveaxis(canvases, 1, -1)
            parts.append((canvases, batch.labels.numpy(), batch.bboxes.numpy()))
        images, labels, boxes = (np.concatenate(arrays) for arrays in zip(*parts, strict=True))
        splits[name] = (images, labels, boxes)
    return write_dataset(
        path, splits, recipe="cluttered", canvas_size=canvas_size, distractor_size=distractor_size,
        num_distractors=str(num_distractors), seed=seed,
    )  # fmt: skip
