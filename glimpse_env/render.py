"""Drawing canvases, glimpse squares and trajectories as RGB arrays, and writing GIFs.

Everything returns ``(height, width, 3)`` uint8 arrays, ready for ``imageio``, TensorBoard's
``add_image(..., dataformats="HWC")`` or :func:`save_gif`. Locations are normalised (x, y) in
[-1, 1], as everywhere in the project; squares are the exact pixel boxes the retina reads.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from glimpse_env.atomic import atomic_path
from glimpse_env.retina import patch_boxes

#: One colour per scale (innermost first), then the path colour.
SCALE_COLOURS = ((255, 64, 64), (255, 170, 0), (80, 200, 80), (64, 160, 255), (200, 90, 255))
PATH_COLOUR = (0, 220, 255)


def _scale_for(height: int, width: int, target: int = 320) -> int:
    return max(1, round(target / max(height, width)))


def canvas_to_rgb(canvas: np.ndarray, scale: int = 1) -> np.ndarray:
    """``(H, W)`` grey or ``(3, H, W)`` colour (channels first, as the envs hold it; ``(1, H,
    W)`` is grey) uint8 or float [0, 1] canvas -> ``(H*scale, W*scale, 3)`` uint8 RGB."""
    canvas = np.asarray(canvas)
    if canvas.ndim == 3 and canvas.shape[0] == 1:
        canvas = canvas[0]
    if not (canvas.ndim == 2 or (canvas.ndim == 3 and canvas.shape[0] == 3)):
        raise ValueError(f"canvas must be (H, W) or (3, H, W), got {canvas.shape}")
    if canvas.dtype != np.uint8:
        canvas = (np.clip(canvas, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    rgb = np.stack([canvas] * 3, axis=-1) if canvas.ndim == 2 else np.moveaxis(canvas, 0, -1)
    return np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)


def draw_trajectory(
    canvas: np.ndarray,
    locations: np.ndarray,
    glimpse_size: int,
    num_scales: int,
    scale_factor: int = 2,
    scale: int | None = None,
    caption: str | None = None,
    windows: np.ndarray | None = None,
) -> np.ndarray:
    """The canvas with the path through ``locations`` and the squares of the last glimpse.

    Args:
        canvas: ``(H, W)`` uint8 canvas, or ``(3, H, W)`` colour.
        locations: ``(T, 2)`` normalised (x, y) glimpse centres in visiting order (T may be 0).
        glimpse_size, num_scales, scale_factor: the retina's parameters (for the squares).
        scale: pixels per canvas pixel in the drawing (default: about 320 pixels wide).
        caption: text drawn in the top-left corner (e.g. "label 7, guess 7").
        windows: ``(T, 6)`` affine windows ``(a, b, tx, c, d, ty)`` (EDRAM's spatial
            transformer, :mod:`glimpse_env.affine_sensor`): the last one is drawn as the
            quadrilateral it samples (scaled, rotated or sheared) instead of retina squares.

    Returns:
        ``(H*scale, W*scale, 3)`` uint8.
    """
    h, w = np.asarray(canvas).shape[-2:]
    scale = scale or _scale_for(h, w)
    image = Image.fromarray(canvas_to_rgb(canvas, scale))
    draw = ImageDraw.Draw(image)
    locations = np.asarray(locations, dtype=np.float64).reshape(-1, 2)
    if len(locations):
        points = [((x + 1) / 2 * w * scale, (y + 1) / 2 * h * scale) for x, y in locations]
        if len(points) > 1:
            draw.line(points, fill=PATH_COLOUR, width=max(1, scale // 2))
        for px, py in points:
            r = max(2, scale)
            draw.ellipse([px - r, py - r, px + r, py + r], outline=PATH_COLOUR, width=1)
        if windows is not None:
            corners = window_corners(np.asarray(windows)[len(locations) - 1], h, w)
            outline = [(x * scale, y * scale) for x, y in corners]
            draw.polygon(outline, outline=SCALE_COLOURS[0], width=max(1, scale // 2))
            boxes = np.zeros((0, 4), dtype=np.int64)
        else:
            boxes = patch_boxes(locations[-1:], h, w, glimpse_size, num_scales, scale_factor)[0]
        for i, (x0, y0, x1, y1) in enumerate(boxes):
            colour = SCALE_COLOURS[i % len(SCALE_COLOURS)]
            draw.rectangle(
                [x0 * scale, y0 * scale, x1 * scale - 1, y1 * scale - 1],
                outline=colour,
                width=max(1, scale // 2),
            )
    if caption:
        draw.text((4, 2), caption, fill=(255, 255, 0))
    return np.asarray(image)


def window_corners(theta: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pixel corners ``(4, 2)`` (x, y) of the area an affine window ``theta`` ``(6,)``
    ``(a, b, tx, c, d, ty)`` samples: its own corners ``(u, v) = (+-1, +-1)`` mapped to
    ``x = a u + b v + tx``, ``y = c u + d v + ty`` and from normalised to pixel coordinates, in
    drawing order (top-left, top-right, bottom-right, bottom-left of the window)."""
    a, b, tx, c, d, ty = np.asarray(theta, dtype=np.float64)
    uv = np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
    x = a * uv[:, 0] + b * uv[:, 1] + tx
    y = c * uv[:, 0] + d * uv[:, 1] + ty
    return np.stack([(x + 1) / 2 * width, (y + 1) / 2 * height], axis=1)


def glimpse_panel(glimpse: np.ndarray, height: int) -> np.ndarray:
    """The ``(k, g, g)`` (or colour ``(k, 3, g, g)``) patches of one glimpse stacked top to
    bottom, ``height`` pixels tall, each framed in its scale's colour: what the agent sees."""
    glimpse = np.asarray(glimpse)
    k, g = glimpse.shape[0], glimpse.shape[-1]
    cell = max(1, height // k)
    zoom = max(1, (cell - 4) // g)  # room for the 2-pixel frame
    panel = np.zeros((height, g * zoom + 4, 3), dtype=np.uint8)
    for i in range(k):
        top = i * cell
        tile = canvas_to_rgb(glimpse[i], zoom)
        panel[top : top + g * zoom + 4, :] = SCALE_COLOURS[i % len(SCALE_COLOURS)]
        panel[top + 2 : top + 2 + g * zoom, 2 : 2 + g * zoom] = tile
    return panel


def trajectory_frames(
    canvas: np.ndarray,
    locations: np.ndarray,
    glimpses: np.ndarray | None,
    glimpse_size: int,
    num_scales: int,
    scale_factor: int = 2,
    caption: str | None = None,
    windows: np.ndarray | None = None,
) -> list[np.ndarray]:
    """One frame per glimpse: the path so far with the current squares (or affine window,
    ``windows`` ``(T, 6)``), and (when ``glimpses`` ``(T, k, g, g)`` is given) the patches the
    agent received, to the right."""
    frames = []
    for t in range(len(locations)):
        frame = draw_trajectory(
            canvas,
            locations[: t + 1],
            glimpse_size,
            num_scales,
            scale_factor,
            caption=f"{caption or ''} t={t + 1}".strip(),
            windows=windows,
        )
        if glimpses is not None:
            frame = np.concatenate([frame, glimpse_panel(glimpses[t], frame.shape[0])], axis=1)
        frames.append(frame)
    return frames


def image_grid(images: Sequence[np.ndarray], columns: int = 4, pad: int = 4) -> np.ndarray:
    """Tile equally sized ``(h, w, 3)`` images into one ``(H, W, 3)`` grid (for TensorBoard)."""
    if not images:
        raise ValueError("image_grid needs at least one image")
    h, w, _ = images[0].shape
    rows = -(-len(images) // columns)
    cols = min(columns, len(images))
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 32, dtype=np.uint8)
    for i, image in enumerate(images):
        if image.shape != (h, w, 3):
            raise ValueError(f"image {i} has shape {image.shape}, expected {(h, w, 3)}")
        r, c = divmod(i, columns)
        grid[
            pad + r * (h + pad) : pad + r * (h + pad) + h,
            pad + c * (w + pad) : pad + c * (w + pad) + w,
        ] = image
    return grid


def save_gif(frames: Sequence[np.ndarray], path: str | os.PathLike, fps: float = 2.0) -> Path:
    """Write frames as a looping animated GIF (atomically: temp file, then rename)."""
    if not frames:
        raise ValueError("save_gif needs at least one frame")
    images = [Image.fromarray(np.asarray(f, dtype=np.uint8)) for f in frames]
    with atomic_path(path) as tmp:
        images[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=int(1000 / fps),
            loop=0,
        )
    return Path(path)
