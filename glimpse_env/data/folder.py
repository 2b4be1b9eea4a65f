"""Labelled images from a folder, one sub-directory per class (torchvision's ``ImageFolder``
convention), made into a dataset file the environments serve.

    photos/cat/001.png  photos/cat/002.jpg  photos/dog/001.png ...

:func:`read_image_folder` decodes every image once with Pillow into one in-memory array (the
sets this is for fit in memory; a dataset file is then read as a whole too), at one stated
canvas size: each image is resized to fit inside ``size x size`` keeping its aspect ratio and is
centred on a black canvas. Grayscale or colour: ``channels=1`` or ``3`` converts every image;
``None`` (default) takes the images' own, grayscale if the first is, and a later image of the
other kind is an error naming it. Classes are the sub-directory names in sorted order, labels
their indices. :func:`glimpse_env.data.sources.folder_to_dataset` splits the images into
``train`` / ``valid`` / ``test`` with a stated seed
(:meth:`glimpse_env.data.sources.ImageSource.from_folder`) and writes them with
:func:`glimpse_env.data.hdf5.write_dataset`; ``gym.make(id, dataset_path=...,
classes=len(class_names), canvas_size=size)`` then serves them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from glimpse_env.checks import check_int
from glimpse_env.data.images import fit_image

#: File endings read as images.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class FolderImages:
    """Images of a class folder.

    Attributes:
        images: ``(N, size, size)`` uint8 grayscale canvases, or ``(N, size, size, C)`` colour
            ones (channels last).
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


def read_image_folder(
    root: str | os.PathLike, size: int, channels: int | None = None
) -> FolderImages:
    """Read ``root/<class>/<image>`` as ``size x size`` canvases with ``channels`` channels
    (1: grayscale, 3: RGB, None: the images' own; see the module docstring).

    Raises:
        ValueError: ``root`` is not a folder, has no class folders, a class folder has no
            image, a file cannot be decoded, or (``channels=None``) grayscale and colour images
            are mixed; the message names the folder or the file.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder of class folders")
    check_int("size", size, note="pixels")
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1 (grayscale), 3 (RGB) or None, got {channels!r}")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise ValueError(f"{root} holds no class folders (expected {root}/<class>/<image>)")
    for folder in classes:  # class names are written into dataset files and cards as UTF-8
        try:
            folder.name.encode("utf-8")
        except UnicodeEncodeError:
            raw = os.fsencode(folder.name)
            raise ValueError(
                f"class folder {raw!r} in {root} is not a UTF-8 name; rename it (its name is "
                "the class's name)"
            ) from None
    images, labels, boxes = [], [], []
    files: list[Path] = []
    mode = {1: "L", 3: "RGB", None: None}[channels]
    for label, folder in enumerate(classes):
        found = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise ValueError(f"class folder {folder} holds no image ({', '.join(IMAGE_SUFFIXES)})")
        for path in found:
            canvas, box, kind = _canvas(path, size, mode)  # kind: the image's own, L or RGB
            if mode is None:
                mode = kind
            elif channels is None and kind != mode:
                raise ValueError(
                    f"{path} is {'colour' if kind == 'RGB' else 'grayscale'}, {files[0]} is not: "
                    "pass channels=1 or channels=3 (--channels) to convert every image"
                )
            images.append(canvas)
            labels.append(label)
            boxes.append(box)
            files.append(path)
    return FolderImages(
        np.stack(images), np.array(labels, np.int64), np.array(boxes, np.int64),
        tuple(p.name for p in classes), tuple(files),
    )  # fmt: skip


#: Pillow modes read as grayscale when the channels are not given.
GRAYSCALE_MODES = ("1", "L", "LA", "I", "I;16", "F")


def _canvas(
    path: Path, size: int, mode: str | None
) -> tuple[np.ndarray, tuple[int, int, int, int], str]:
    """One image in ``mode`` (``"L"``, ``"RGB"``, None: its own kind), fitted inside
    ``size x size`` and centred; its box; its own kind (``"L"`` or ``"RGB"``)."""
    try:
        with Image.open(path) as opened:
            own = "L" if opened.mode in GRAYSCALE_MODES else "RGB"
            if opened.mode in WIDE_MODES:  # 16-bit, 32-bit or float pixels: scaled, not clipped
                grey = _wide_to_uint8(np.asarray(opened), opened.mode, path)
                image = Image.fromarray(grey, "L").convert(mode or own)
            else:
                image = opened.convert(mode or own)
    except Image.DecompressionBombError as error:
        raise ValueError(f"{path} is too large an image to read safely: {error}") from None
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"{path} is not a readable image: {error}") from None
    pixels = np.asarray(image, np.uint8)
    canvas, box = fit_image(pixels if pixels.ndim == 3 else pixels[..., None], size)
    return (canvas if image.mode == "RGB" else canvas[..., 0]), box, own


#: Pillow's grayscale modes wider than 8 bits, read by :func:`_wide_to_uint8`.
WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "F")


def _wide_to_uint8(pixels: np.ndarray, mode: str, path: Path) -> np.ndarray:
    """8-bit intensities of a wider grayscale image, scaled rather than clipped: 16-bit
    integers (0-65535) by 255/65535, 32-bit integers by their own maximum, floats as [0, 1]
    when none exceeds 1 and as 0-255 otherwise."""
    values = pixels.astype(np.float64)
    if not np.isfinite(values).all():
        raise ValueError(f"{path}: the image holds NaN or infinite pixel values")
    if values.min() < 0:
        raise ValueError(f"{path}: the image holds negative pixel values ({values.min()})")
    if mode.startswith("I;16") or (mode == "I" and values.max() <= 65535 and values.max() > 255):
        scaled = values * (255.0 / 65535.0)
    elif mode == "F" and values.max() <= 1.0:
        scaled = values * 255.0
    elif mode == "I" and values.max() > 65535:
        scaled = values * (255.0 / values.max())
    else:
        scaled = values
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
