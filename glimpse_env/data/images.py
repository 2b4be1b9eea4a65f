"""Fitting an image of any size onto a square canvas: the one resizing of every image source
(arrays, folders, Hugging Face images)."""

from __future__ import annotations

import numpy as np
from PIL import Image


def fit_image(image: np.ndarray, side: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """``(side, side, C)``: ``image`` ``(H, W, C)`` uint8 resized (bilinear, each channel) to fit
    inside the square keeping its aspect ratio (untouched when it already fits exactly) and
    centred on black; and its pixel box ``(x_min, y_min, x_max, y_max)``, max exclusive. The one
    fitting of every source (arrays, folders, Hugging Face images)."""
    height, width, channels = image.shape
    scale = side / max(height, width)
    if scale != 1.0:
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        planes = [
            np.asarray(
                Image.fromarray(image[..., c]).resize((new_w, new_h), Image.Resampling.BILINEAR)
            )
            for c in range(channels)
        ]
        image, height, width = np.stack(planes, axis=-1), new_h, new_w
    x, y = (side - width) // 2, (side - height) // 2
    canvas = np.zeros((side, side, channels), np.uint8)
    canvas[y : y + height, x : x + width] = image
    return canvas, (x, y, x + width, y + height)
