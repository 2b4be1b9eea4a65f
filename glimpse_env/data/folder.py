"""Labelled images from a folder, one sub-directory per class (torchvision's ``ImageFolder``
convention), made into a dataset file the environments serve.

    photos/cat/001.png  photos/cat/002.jpg  photos/dog/001.png ...

:func:`read_image_folder` decodes every image once with Pillow into one in-memory array (the
sets this is for fit in memory; a dataset file is then read as a whole too), as grayscale and at
one stated canvas size: each image is resized to fit inside ``size x size`` keeping its aspect
ratio and is centred on a black canvas. Classes are the sub-directory names in sorted order,
labels their indices. :func:`folder_to_dataset` splits the images into ``train`` / ``valid`` /
``test`` with a stated seed and writes them with :func:`glimpse_env.data.hdf5.write_dataset`;
``gym.make(id, dataset_path=..., classes=len(class_names), canvas_size=size)`` then serves them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from glimpse_env.data.hdf5 import write_dataset

#: File endings read as images.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class FolderImages:
    """Images of a class folder.

    Attributes:
        images: ``(N, size, size)`` uint8 grayscale canvases.
        labels: ``(N,)`` int64 class indices.
        boxes: ``(N, 4)`` int64 pixel boxes ``(x_min, y_min, x_max, y_max)`` of each image on
            its canvas, max exclusive.
        class_names: the sub-directory of each class index.
        files: the file of each image.
    """

    images: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray
    class_names: tuple[str, ...]
    files: tuple[Path, ...]


def read_image_folder(root: str | os.PathLike, size: int) -> FolderImages:
    """Read ``root/<class>/<image>`` as grayscale ``size x size`` canvases (see the module
    docstring).

    Raises:
        ValueError: ``root`` is not a folder, has no class folders, a class folder has no
            image, or a file cannot be decoded; the message names the folder or the file.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder of class folders")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"size must be a positive int (pixels), got {size!r}")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise ValueError(f"{root} holds no class folders (expected {root}/<class>/<image>)")
    images, labels, boxes, files = [], [], [], []
    for label, folder in enumerate(classes):
        found = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise ValueError(f"class folder {folder} holds no image ({', '.join(IMAGE_SUFFIXES)})")
        for path in found:
            canvas, box = _canvas(path, size)
            images.append(canvas)
            labels.append(label)
            boxes.append(box)
            files.append(path)
    return FolderImages(
        np.stack(images), np.array(labels, np.int64), np.array(boxes, np.int64),
        tuple(p.name for p in classes), tuple(files),
    )  # fmt: skip


def _canvas(path: Path, size: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """One image, grayscale, fitted inside ``size x size`` and centred; and its box."""
    try:
        with Image.open(path) as opened:
            image = opened.convert("L")
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"{path} is not a readable image: {error}") from None
    scale = size / max(image.width, image.height)
    width = max(1, round(image.width * scale))
    height = max(1, round(image.height * scale))
    image = image.resize((width, height), Image.Resampling.BILINEAR)
    x, y = (size - width) // 2, (size - height) // 2
    canvas = np.zeros((size, size), np.uint8)
    canvas[y : y + height, x : x + width] = np.asarray(image, np.uint8)
    return canvas, (x, y, x + width, y + height)


def folder_to_dataset(
    root: str | os.PathLike,
    output: str | os.PathLike,
    size: int,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
) -> tuple[Path, FolderImages]:
    """Read ``root`` and write it as a dataset file with ``train`` / ``valid`` / ``test`` rows.

    The split is a seeded permutation of all images: the first ``test_fraction`` go to
    ``test``, the next ``valid_fraction`` to ``valid``, the rest to ``train``; the file's
    attributes record the classes, the fractions, the seed and the source folder.

    Raises:
        ValueError: see :func:`read_image_folder`; fractions outside [0, 1) or leaving no
            training image.
    """
    if not (0 <= valid_fraction < 1 and 0 <= test_fraction < 1):
        raise ValueError(f"fractions must be in [0, 1), got {valid_fraction}, {test_fraction}")
    data = read_image_folder(root, size)
    count = len(data.labels)
    order = np.random.default_rng(seed).permutation(count)
    n_test, n_valid = round(count * test_fraction), round(count * valid_fraction)
    if n_test + n_valid >= count:
        raise ValueError(f"{count} images leave none for training after the valid and test parts")
    parts = {
        "test": order[:n_test],
        "valid": order[n_test : n_test + n_valid],
        "train": order[n_test + n_valid :],
    }
    splits = {
        name: (data.images[rows], data.labels[rows], data.boxes[rows])
        for name, rows in parts.items()
        if len(rows)
    }
    path = write_dataset(
        output, splits, classes=",".join(data.class_names), source=str(root), seed=seed,
        valid_fraction=valid_fraction, test_fraction=test_fraction,
    )  # fmt: skip
    return path, data
