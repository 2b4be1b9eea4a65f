"""The differentiable glimpse sensor (EDRAM): an affine, spatial-transformer sample of the canvas.

:mod:`glimpse_env.retina` cuts exact, area-averaged square patches at a location; nothing flows
back through it to the location, so RAM and DRAM learn where to look by REINFORCE. EDRAM
(Ablavatski et al. 2017) instead samples the canvas through an affine transform with bilinear
interpolation (Jaderberg et al. 2015), which is differentiable with respect to the six transform
parameters, and trains where to look by backpropagation. This module is that sensor.

Parameters and coordinates
--------------------------
``theta = (a, b, tx, c, d, ty)``, one row per image, in the order of the ``locations`` field of
the ``mnist_cluttered.hdf5`` files (``(sx, 0, tx, 0, sy, ty)`` for an axis-aligned window). Output
pixel ``(u, v)``, in the window's own normalised coordinates (``-1`` and ``1`` its outer edges),
reads the image at

    x = a * u + b * v + tx,     y = c * u + d * v + ty

in the retina's image coordinates: ``(x, y)`` normalised to [-1, 1], ``(-1, -1)`` the top-left
corner of the canvas (outer edge), x along columns (see :mod:`glimpse_env.retina`). So ``(tx, ty)``
is the window's centre, the same quantity as a retina location, and ``sx = g / W`` makes a window
of ``g`` canvas pixels. Samples outside the canvas read zero, as in the retina.

Agreement with the retina: for ``theta = (g/W, 0, tx, 0, g/H, ty)`` whose window starts on a
pixel boundary, every output pixel centre falls on an input pixel centre, and the sample equals
the retina's single-scale ``g x g`` patch at location ``(tx, ty)`` exactly (tested).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

#: Identity-like parameters: the window is the whole canvas.
IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def affine_glimpse(
    images: torch.Tensor, theta: torch.Tensor, size: int | tuple[int, int]
) -> torch.Tensor:
    """Sample an ``h x w`` window of each image through its affine transform.

    Args:
        images: ``(N, H, W)`` or ``(N, C, H, W)`` images; uint8 (0-255, read as intensities
            ``value / 255``) or float intensities.
        theta: ``(N, 6)`` float parameters ``(a, b, tx, c, d, ty)`` (see the module docstring).
        size: output side ``h = w`` in pixels, or ``(h, w)``.

    Returns:
        ``(N, h, w)`` or ``(N, C, h, w)`` float tensor (float64 if both inputs are float64, else
        float32), differentiable with respect to ``theta`` and float ``images``.

    Raises:
        ValueError: wrong shapes, a non-positive size, or non-finite parameters.
    """
    h, w = (size, size) if isinstance(size, int) else size
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive, got {(h, w)}")
    if images.dim() not in (3, 4):
        raise ValueError(f"images must be (N, H, W) or (N, C, H, W), got {tuple(images.shape)}")
    n = images.shape[0]
    if theta.shape != (n, 6):
        raise ValueError(
            f"theta must have shape ({n}, 6) (a, b, tx, c, d, ty), got {tuple(theta.shape)}"
        )
    if not bool(torch.isfinite(theta.detach()).all()):
        raise ValueError("theta contains NaN or inf")
    channels = images if images.dim() == 4 else images.unsqueeze(1)
    if channels.dtype == torch.uint8:
        channels = channels.to(torch.float32) / 255.0
    dtype = torch.float64 if channels.dtype == theta.dtype == torch.float64 else torch.float32
    channels = channels.to(dtype)
    grid = F.affine_grid(theta.to(dtype).view(n, 2, 3), [n, 1, h, w], align_corners=False)
    out = F.grid_sample(channels, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out if images.dim() == 4 else out.squeeze(1)


def window_theta(
    centres: torch.Tensor, window: int | tuple[int, int], height: int, width: int
) -> torch.Tensor:
    """``(N, 6)`` axis-aligned parameters of a ``window``-pixel square (or ``(h, w)``) centred
    at normalised ``centres`` ``(N, 2)`` (x, y) on an ``height x width`` canvas."""
    wh, ww = (window, window) if isinstance(window, int) else window
    n = centres.shape[0]
    theta = centres.new_zeros(n, 6)
    theta[:, 0] = ww / width
    theta[:, 4] = wh / height
    theta[:, 2] = centres[:, 0]
    theta[:, 5] = centres[:, 1]
    return theta
