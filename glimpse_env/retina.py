"""The glimpse sensor: multi-resolution square patches around a location, batched and exact.

This is the one place in the project that cuts patches; the single env, the vector env and the
agents all call it.

Coordinates
-----------
A location is ``(x, y)`` normalised to [-1, 1] on both axes: ``(-1, -1)`` is the top-left corner
of the image, ``(1, 1)`` the bottom-right corner, x runs along columns and y along rows. In pixel
units (pixel ``i`` spans ``[i, i + 1)``) the centre is ``c = (l + 1) / 2 * size``, so ``l = 0`` is
the middle of the image and ``l = -1`` its outer edge. :func:`to_pixels` / :func:`to_normalised`
convert, and every other module uses them.

Patches
-------
Patch ``i`` (``i = 0 .. num_scales - 1``) has side ``p_i = g * s**i`` pixels (``g`` the glimpse
size, ``s`` the integer scale factor) and covers columns ``[x0, x0 + p_i)`` with
``x0 = floor(c_x - p_i / 2 + 1/2)``: the patch whose centre is nearest to ``c`` (for even ``p_i``,
``c`` rounded to the nearest pixel boundary; ties go up), computed in float64 from the given
location. Rows likewise. Pixels outside the image
read as zero. Each patch is reduced to ``g x g`` by averaging non-overlapping ``s**i x s**i``
blocks (area averaging), so every output value is a mean of image pixels, exactly.

How
---
Through a summed-area table (integral image) ``S`` with ``S[y, x] = sum(image[:y, :x])``: the sum
of any box is four reads of ``S``, and the ``g x g`` block sums of one patch need only the
``(g + 1)^2`` table entries at its block corners. Every scale therefore costs the same, whatever
its side. Zero padding is free: clamping the corners into ``[0, H] x [0, W]`` gives the sum over
the part of the box inside the image. For uint8 images the table holds integers, in float32 while
every sum is below 2^24 (any image up to 256x256), else float64: either way exactly, and each
output is one correctly rounded division. Float images are summed in float64. An environment
that takes several glimpses of one canvas builds the table once per episode
(:func:`integral_image`) and passes it instead of the image.

Channels
--------
A ``C``-channel image is cut channel by channel with the same method at the same place, so its
glimpse equals ``C`` one-channel glimpses exactly. For uint8 images whose channel sums fit ``C``
bit fields of one int64 (``C * b <= 63`` with ``b`` the bits of ``255 * H * W``: three
channels up to 8,224 pixels, 90x90 or 64x128), the table is one int64 per pixel holding every
channel's sum in its own field (channel ``c`` in bits ``[c b, (c + 1) b)``). Sums and
differences of such numbers act on every field at once without carries, since every field's
true value is a non-negative box sum below ``2^b``: one table of 8-byte entries instead of ``C``
tables of 4, and one read per corner. Other multi-channel tables keep each pixel's channel sums
side by side (padded to 2 or 4 so that they are read as one 8- or 16-byte element).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from glimpse_env.checks import check_int


@dataclass(frozen=True)
class IntegralImage:
    """Summed-area tables of a batch of images.

    Attributes:
        table: ``(N, H + 1, W + 1)`` float32 or float64 sums of pixel values; for ``C``-channel
            images either ``(N, H + 1, W + 1)`` int64 with ``C`` fields of ``field_bits`` bits
            (uint8 images small enough, see the module docstring), or ``(N, H + 1, W + 1, P)``:
            one table per channel, channels last and zero-padded to ``P`` (2 or 4 when that
            makes a pixel's sums 8 or 16 bytes, which the retina reads as one element).
        divisor: what a pixel value is divided by to give intensity (255 for uint8 images, else 1).
        num_channels: ``C`` of ``(N, C, H, W)`` images, None for ``(N, H, W)`` ones.
        field_bits: bits per channel of a packed int64 table, None for the other layouts.
    """

    table: torch.Tensor
    divisor: float
    num_channels: int | None = None
    field_bits: int | None = None

    @property
    def height(self) -> int:
        return int(self.table.shape[1]) - 1

    @property
    def width(self) -> int:
        return int(self.table.shape[2]) - 1

    @property
    def channels(self) -> int | None:
        """``C`` for tables of ``(N, C, H, W)`` images, None for ``(N, H, W)`` ones."""
        return self.num_channels

    def __len__(self) -> int:
        return int(self.table.shape[0])


def to_pixels(locations: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Normalised ``(..., 2)`` (x, y) in [-1, 1] -> pixel coordinates (edges at 0 and size)."""
    size = torch.tensor([width, height], dtype=locations.dtype, device=locations.device)
    return (locations + 1.0) * 0.5 * size


def to_normalised(pixels: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pixel coordinates ``(..., 2)`` (x, y) -> normalised [-1, 1]; inverse of :func:`to_pixels`."""
    size = torch.tensor([width, height], dtype=pixels.dtype, device=pixels.device)
    return pixels / size * 2.0 - 1.0


#: Bytes of integral table built per block on the CPU (see :func:`integral_image`): small
#: enough for the processor's cache (docs/own-images.md has the measurement).
_BLOCK_BYTES = 2 * 1024 * 1024


def integral_image(
    images: torch.Tensor | np.ndarray, out: IntegralImage | None = None
) -> IntegralImage:
    """Summed-area tables of ``(N, H, W)`` images, or of each channel of ``(N, C, H, W)`` ones
    (uint8 0-255, or float intensities).

    uint8 images give an exact integer table and intensities ``value / 255``; float images are
    taken as intensities and summed in float64. ``out``: a table of the same shape to overwrite
    (and return) instead of allocating one: an environment that resets every episode reuses its
    table (a fresh allocation of tens of MB is page-faulted in on every reset).
    """
    images = torch.as_tensor(images)
    if images.ndim not in (3, 4):
        raise ValueError(
            f"images must be (N, H, W) or (N, C, H, W), got shape {tuple(images.shape)}"
        )
    n, h, w = images.shape[0], images.shape[-2], images.shape[-1]
    if images.dtype == torch.uint8:
        exact_in_float32 = 255 * h * w < 2**24
        dtype, divisor = (torch.float32 if exact_in_float32 else torch.float64), 255.0
    elif images.dtype.is_floating_point:
        dtype, divisor = torch.float64, 1.0
    else:
        raise ValueError(f"images must be uint8 or floating point, got {images.dtype}")
    channels = int(images.shape[1]) if images.ndim == 4 else None
    field_bits = None
    if images.dtype == torch.uint8 and channels is not None and channels > 1:
        field_bits = _field_bits(channels, h, w)
    planes: tuple[int, ...] = ()  # the channel axis of a table of side-by-side sums
    if field_bits is not None:
        dtype = torch.int64
    elif channels is not None:
        planes = (_packed_channels(channels, dtype),)
    shape = (n, h + 1, w + 1, *planes)
    if out is not None and out.table.shape == shape and out.table.dtype == dtype:
        table = out.table  # its first row and column (and padding) are zeros and stay so
    else:
        table = torch.zeros(shape, dtype=dtype, device=images.device)
    # On the CPU in blocks of canvases whose table takes about _BLOCK_BYTES, so that the fill and
    # both prefix sums of a block stay in cache; other devices take the batch as one block.
    entry_bytes = table.element_size() * (planes[0] if planes else 1)
    block = n
    if table.device.type == "cpu":
        block = max(1, _BLOCK_BYTES // ((h + 1) * (w + 1) * entry_bytes))
    for start in range(0, n, block):
        part, part_images = table[start : start + block], images[start : start + block]
        if channels is None:
            part[:, 1:, 1:] = part_images
        elif field_bits is not None:
            _pack_channels(part_images, field_bits, out=part[:, 1:, 1:])
        else:  # channels last (a copy without transposition when the images are channels_last)
            part[:, 1:, 1:, :channels] = part_images.permute(0, 2, 3, 1)
        torch.cumsum(part, 2, out=part)  # in place, along rows, then down the columns
        torch.cumsum(part, 1, out=part)
    return IntegralImage(table=table, divisor=divisor, num_channels=channels, field_bits=field_bits)


def _field_bits(channels: int, height: int, width: int) -> int | None:
    """Bits per channel field of a packed int64 table of uint8 ``height x width`` images (the
    bits of the largest sum, ``255 * height * width``), or None when ``channels`` such fields
    take more than 63 bits."""
    bits = (255 * height * width).bit_length()
    return bits if channels * bits <= 63 else None


def _pack_channels(images: torch.Tensor, bits: int, out: torch.Tensor) -> None:
    """Write ``sum_c images[:, c] << (c * bits)`` of uint8 ``(N, C, H, W)`` images into the
    int64 ``(N, H, W)`` ``out``."""
    top = images.shape[1] - 1
    torch.mul(images[:, top].to(torch.int64), 1 << (bits * top), out=out)
    for c in range(top):
        out.add_(images[:, c].to(torch.int64), alpha=1 << (bits * c))


#: Element types the retina reads a pixel's channel sums as, by their size in bytes: one
#: 8- or 16-byte element per index instead of a row of C values (measured 2.4x faster for
#: C = 3 float32 channels padded to 4, one CPU thread).
_PACKED = {8: torch.float64, 16: torch.complex128}


def _packed_channels(channels: int, dtype: torch.dtype) -> int:
    """Channels of the table: ``channels`` padded to 2 or 4 when that gives 8 or 16 bytes per
    pixel (one packed element), else unpadded."""
    size = torch.empty((), dtype=dtype).element_size()
    for padded in (1, 2, 4):
        if channels <= padded and padded * size in _PACKED:
            return padded
    return channels


def patch_sizes(glimpse_size: int, num_scales: int, scale_factor: int = 2) -> list[int]:
    """Sides in pixels of the patches of one glimpse: ``[g, g*s, g*s^2, ...]``."""
    return [glimpse_size * scale_factor**i for i in range(num_scales)]


def check_glimpse_config(glimpse_size: int, num_scales: int, scale_factor: int) -> None:
    check_int("glimpse_size", glimpse_size, note="pixels")
    check_int("num_scales", num_scales)
    check_int(
        "scale_factor", scale_factor,
        note="patch i has side g * s**i and is averaged over s**i x s**i blocks",
    )  # fmt: skip


@functools.lru_cache(maxsize=64)
def _geometry(
    glimpse_size: int, num_scales: int, scale_factor: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Constant tensors of one retina configuration (float64 on ``device``):
    patch sides ``(k,)``, block-edge offsets from a patch's corner ``(k, g + 1)``, block areas
    ``(k,)``."""
    block = torch.tensor(
        [scale_factor**i for i in range(num_scales)], dtype=torch.float64, device=device
    )
    offsets = block[:, None] * torch.arange(glimpse_size + 1, dtype=torch.float64, device=device)
    return block * glimpse_size, offsets, block**2


def patch_corners(
    locations: torch.Tensor, height: int, width: int, sides: torch.Tensor
) -> torch.Tensor:
    """Top-left pixel ``(x0, y0)`` of each patch: ``floor(c - side / 2 + 1/2)``.

    Args:
        locations: ``(N, 2)`` normalised (x, y), finite.
        sides: ``(k,)`` patch sides in pixels.

    Returns:
        ``(N, k, 2)`` float64 integral values (pixels; may lie outside the image).
    """
    locations = locations.to(torch.float64)
    sides = sides.to(device=locations.device, dtype=torch.float64)
    # Keep far-away centres from overflowing later integer casts; such patches read zeros anyway.
    centre = to_pixels(locations, height, width).clamp(-1e9, 1e9)
    return torch.floor(centre[:, None, :] - sides[None, :, None] / 2 + 0.5)


def patch_boxes(
    locations: torch.Tensor | np.ndarray,
    height: int,
    width: int,
    glimpse_size: int,
    num_scales: int,
    scale_factor: int = 2,
) -> np.ndarray:
    """Pixel boxes ``(N, k, 4)`` int64 ``(x_min, y_min, x_max, y_max)`` (max exclusive) of the
    patches :func:`extract_glimpses` reads, for drawing."""
    check_glimpse_config(glimpse_size, num_scales, scale_factor)
    sides = torch.tensor(patch_sizes(glimpse_size, num_scales, scale_factor), dtype=torch.float64)
    corner = patch_corners(torch.as_tensor(locations).reshape(-1, 2).cpu(), height, width, sides)
    return torch.cat([corner, corner + sides[None, :, None]], dim=2).long().numpy()


def extract_glimpses(
    images: torch.Tensor | np.ndarray | IntegralImage,
    locations: torch.Tensor | np.ndarray,
    glimpse_size: int,
    num_scales: int,
    scale_factor: int = 2,
) -> torch.Tensor | np.ndarray:
    """Multi-resolution glimpses of a batch of images, one channel or several.

    Args:
        images: ``(N, H, W)`` uint8 (0-255) or float images, or their :class:`IntegralImage`;
            or ``(N, C, H, W)`` images with ``C`` channels (colour) or their table, each
            channel cut by the same integral-image method at the same location.
        locations: ``(N, 2)`` glimpse centres ``(x, y)`` normalised to [-1, 1] (see module
            docstring); any finite value is allowed, patches past the border read zeros.
        glimpse_size: ``g``, side of each output patch in pixels.
        num_scales: ``k``, patches per glimpse.
        scale_factor: ``s``, integer ratio between successive patch sides.

    Returns:
        ``(N, k, g, g)`` float32 intensities (in [0, 1] for uint8 images), or ``(N, k, C, g, g)``
        for ``C``-channel images; a numpy array when ``images`` was one, else a tensor on the
        images' device.

    Raises:
        ValueError: wrong shapes, mismatched batch sizes, non-finite locations, bad config.
    """
    check_glimpse_config(glimpse_size, num_scales, scale_factor)
    as_numpy = isinstance(images, np.ndarray)
    sat = images if isinstance(images, IntegralImage) else integral_image(images)
    n, h, w = len(sat), sat.height, sat.width
    locations = torch.as_tensor(locations).to(device=sat.table.device)
    if locations.shape != (n, 2):
        raise ValueError(
            f"locations must be (N, 2) = ({n}, 2) (x, y), got {tuple(locations.shape)}"
        )
    if not bool(torch.isfinite(locations).all()):
        raise ValueError("locations contain NaN or inf")
    table = sat.table

    g, k = glimpse_size, num_scales
    sides, offsets, block_areas = _geometry(g, k, scale_factor, table.device)
    corner = patch_corners(locations, h, w, sides)  # (N, k, 2)
    edges = corner[..., None] + offsets[:, None, :]  # (N, k, 2, g+1): block edges per axis
    xs = edges[:, :, 0].clamp_(0, w).long()
    ys = edges[:, :, 1].clamp_(0, h).long()
    # Flat indices into the whole (N, H+1, W+1) table, read by one index_select on a 1-D view
    # (2.5 ms against 4.0 ms for a batched gather of 1024 x 507 entries, one CPU thread).
    first = torch.arange(n, device=table.device) * ((h + 1) * (w + 1))
    rows = ys * (w + 1) + first[:, None, None]
    index = rows[..., :, None] + xs[..., None, :]  # (N, k, g+1, g+1)
    corners = _read_corners(table, index.view(-1)).view(n, k, g + 1, g + 1, -1)
    # Box sums from the corner grid: differences along y, then along x (of every field at once
    # in a packed table).
    column = corners[:, :, 1:] - corners[:, :, :-1]
    sums = column[:, :, :, 1:] - column[:, :, :, :-1]  # (N, k, g, g, P)
    if sat.field_bits is not None:
        glimpses = _unpacked_glimpses(sums[..., 0], sat, block_areas)
        return glimpses.numpy() if as_numpy else glimpses
    denominator = (block_areas * sat.divisor).to(table.dtype).view(1, k, 1, 1, 1)
    if sat.channels is None:
        glimpses = (sums[..., 0] / denominator[..., 0]).to(torch.float32)
    else:  # the padding dropped, divided straight into the (N, k, C, g, g) layout
        glimpses = torch.empty((n, k, sat.channels, g, g), dtype=table.dtype, device=table.device)
        torch.div(sums[..., : sat.channels].permute(0, 1, 4, 2, 3), denominator, out=glimpses)
        glimpses = glimpses.to(torch.float32)
    return glimpses.numpy() if as_numpy else glimpses


def _unpacked_glimpses(
    sums: torch.Tensor, sat: IntegralImage, block_areas: torch.Tensor
) -> torch.Tensor:
    """``(N, k, C, g, g)`` float32 glimpses from the ``(N, k, g, g)`` box sums of a packed int64
    table: each channel's field taken out and divided by its block's area in float32, exactly as
    a one-channel float32 table divides."""
    n, k, side = sums.shape[0], sums.shape[1], sums.shape[2]
    channels, bits = int(sat.num_channels or 1), int(sat.field_bits or 0)
    denominator = (block_areas * sat.divisor).to(torch.float32).view(1, k, 1, 1)
    glimpses = torch.empty((n, k, channels, side, side), device=sums.device)
    mask = (1 << bits) - 1
    for c in range(channels):
        field = sums >> (bits * c) if c else sums
        if c < channels - 1:
            field = field & mask
        torch.div(field, denominator, out=glimpses[:, :, c])
    return glimpses


def _read_corners(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``(M, P)`` table entries at ``index`` into its pixels: every channel of a pixel at once,
    as one packed element when its ``P`` sums take 8 or 16 bytes."""
    pixels = table.reshape(-1, table.shape[3] if table.ndim == 4 else 1)
    if pixels.shape[1] == 1:
        return pixels.reshape(-1).index_select(0, index)[:, None]
    packed = _PACKED.get(pixels.shape[1] * pixels.element_size())
    if packed is None:
        return pixels.index_select(0, index)
    values = pixels.view(packed).reshape(-1).index_select(0, index)
    return values.view(pixels.dtype).view(-1, pixels.shape[1])


def coarse_view(images: torch.Tensor, size: int) -> torch.Tensor:
    """The whole image at low resolution: ``(N, H, W)`` -> ``(N, size, size)`` float32, or
    ``(N, C, H, W)`` -> ``(N, C, size, size)``.

    Each output pixel is the mean of the input pixels under it (adaptive average pooling; when
    ``size`` does not divide the side, neighbouring cells overlap by a pixel). uint8 images give
    intensities ``value / 255``. This is DRAM's "context" input: a coarse look at everything,
    taken once per episode, next to the glimpses.
    """
    if size < 1:
        raise ValueError(f"coarse view size must be positive, got {size}")
    values = images.to(torch.float32)
    if images.dtype == torch.uint8:
        values = values / 255.0
    if images.ndim == 4:
        return torch.nn.functional.adaptive_avg_pool2d(values, size)
    return torch.nn.functional.adaptive_avg_pool2d(values.unsqueeze(1), size).squeeze(1)
