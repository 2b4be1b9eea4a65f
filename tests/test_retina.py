"""The retina against a naive crop-and-average reference, at random and extreme locations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from glimpse_env.retina import extract_glimpses, integral_image, patch_boxes


def naive_glimpse(image: np.ndarray, location, g: int, k: int, s: int) -> np.ndarray:
    """Crop each patch from a zero-padded copy and average s^i x s^i blocks, in float64."""
    h, w = image.shape
    location = np.asarray(location, dtype=np.float64)  # the retina's arithmetic is float64
    values = image / 255.0 if image.dtype == np.uint8 else image.astype(np.float64)
    out = []
    for i in range(k):
        p = g * s**i
        cx, cy = (location[0] + 1) / 2 * w, (location[1] + 1) / 2 * h
        x0, y0 = int(np.floor(cx - p / 2 + 0.5)), int(np.floor(cy - p / 2 + 0.5))
        crop = np.zeros((p, p))  # zero padding: copy only the part inside the image
        ys, xs = slice(max(y0, 0), min(y0 + p, h)), slice(max(x0, 0), min(x0 + p, w))
        if ys.start < ys.stop and xs.start < xs.stop:
            crop[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0] = values[ys, xs]
        out.append(crop.reshape(g, s**i, g, s**i).mean(axis=(1, 3)))
    return np.stack(out)


def _canvases(n, h, w, seed):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w), dtype=np.uint8)


@settings(max_examples=40, deadline=None)
@given(
    locations=st.lists(
        st.tuples(st.floats(-1.6, 1.6), st.floats(-1.6, 1.6)), min_size=1, max_size=8
    ),
    g=st.sampled_from([1, 4, 8, 12]),
    k=st.integers(1, 4),
    s=st.sampled_from([1, 2, 3]),
    seed=st.integers(0, 2**16),
)
def test_matches_naive_reference_at_random_locations(locations, g, k, s, seed):
    images = _canvases(len(locations), 37, 53, seed)  # not square on purpose
    locs = np.array(locations, dtype=np.float32)
    got = extract_glimpses(images, locs, g, k, s)
    want = np.stack([naive_glimpse(images[i], locs[i], g, k, s) for i in range(len(locs))])
    assert got.dtype == np.float32 and got.shape == (len(locs), k, g, g)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_corners_edges_and_far_outside():
    images = _canvases(9, 60, 60, 1)
    locs = np.array(
        [
            [-1, -1],
            [1, 1],
            [-1, 1],
            [1, -1],
            [0, 0],
            [1.0, 0.0],
            [-0.999, 0.5],
            [5.0, -7.0],
            [1e12, -1e12],
        ],
        dtype=np.float32,
    )
    got = extract_glimpses(images, locs, 12, 3, 2)
    want = np.stack([naive_glimpse(images[i], locs[i], 12, 3, 2) for i in range(9)])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert got[7].max() == 0 and got[8].max() == 0  # entirely outside: zero padding


def test_integer_pixel_centres_equal_an_exact_crop():
    """At an integer pixel centre, scale 0 is exactly the g x g crop around it."""
    image = _canvases(1, 60, 60, 2)
    # Pixel boundary 30 is the centre: location 0. The 12x12 crop is rows/cols 24..35.
    got = extract_glimpses(image, np.zeros((1, 2), np.float32), 12, 2, 2)
    np.testing.assert_array_equal(got[0, 0], image[0, 24:36, 24:36].astype(np.float32) / 255)
    # Scale 1 is a 24x24 patch averaged over 2x2 blocks.
    blocks = image[0, 18:42, 18:42].reshape(12, 2, 12, 2).astype(np.float64).mean(axis=(1, 3))
    np.testing.assert_allclose(got[0, 1], blocks / 255, rtol=1e-7)


def test_float_images_and_precomputed_tables_agree():
    images = _canvases(6, 40, 40, 3)
    locs = torch.rand(6, 2) * 2 - 1
    from_uint8 = extract_glimpses(torch.from_numpy(images), locs, 8, 3, 2)
    from_float = extract_glimpses(torch.from_numpy(images).double() / 255, locs, 8, 3, 2)
    from_table = extract_glimpses(integral_image(images), locs, 8, 3, 2)
    assert isinstance(from_uint8, torch.Tensor)
    torch.testing.assert_close(from_uint8, from_float, rtol=1e-6, atol=1e-7)
    assert torch.equal(from_uint8, from_table)


def test_patch_boxes_are_the_boxes_that_are_read():
    boxes = patch_boxes(np.array([[0.0, 0.0], [-1.0, 1.0]]), 60, 60, 12, 3, 2)
    assert boxes.shape == (2, 3, 4)
    assert boxes[0].tolist() == [[24, 24, 36, 36], [18, 18, 42, 42], [6, 6, 54, 54]]
    assert boxes[1, 0].tolist() == [-6, 54, 6, 66]


@pytest.mark.parametrize(
    "locs,match",
    [
        (np.array([[np.nan, 0.0]]), "NaN or inf"),
        (np.array([[np.inf, 0.0]]), "NaN or inf"),
        (np.zeros((2, 2)), r"\(N, 2\) = \(1, 2\)"),
        (np.zeros((1, 3)), r"\(N, 2\)"),
    ],
)
def test_bad_locations_are_rejected(locs, match):
    with pytest.raises(ValueError, match=match):
        extract_glimpses(_canvases(1, 20, 20, 0), locs, 4, 2)


def test_bad_configuration_is_rejected():
    with pytest.raises(ValueError, match="scale_factor must be a positive int"):
        extract_glimpses(_canvases(1, 20, 20, 0), np.zeros((1, 2)), 4, 2, 1.5)
    with pytest.raises(ValueError, match=r"images must be \(N, H, W\)"):
        extract_glimpses(np.zeros((20, 20), np.uint8), np.zeros((1, 2)), 4, 2)


# Each table layout of C-channel images: packed int64 fields (uint8 up to 90x90 for C = 3),
# side-by-side float32 sums padded to 4 (larger uint8 canvases), float64 (float images), and
# two channels in fields of 31 bits (larger than any 3-channel packing).
@pytest.mark.parametrize(
    "as_numpy, channels, height, width, dtype, layout",
    [
        (True, 3, 37, 41, np.uint8, "packed"),
        (False, 3, 37, 41, np.uint8, "packed"),
        (False, 3, 90, 90, np.uint8, "packed"),
        (False, 3, 91, 91, np.uint8, "padded"),
        (False, 2, 120, 100, np.uint8, "packed"),
        (False, 3, 37, 41, np.float32, "padded"),
    ],
)
def test_colour_glimpses_are_one_retina_per_channel_exactly(
    as_numpy, channels, height, width, dtype, layout
):
    """``(N, C, H, W)`` images give ``(N, k, C, g, g)`` glimpses whose channel ``c`` equals the
    one-channel retina of channel ``c``, bit for bit (the same integral-image method), whatever
    the table's layout."""
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (5, channels, height, width), dtype=np.uint8)
    images[0] = 255  # the largest sums every field can hold
    if dtype == np.float32:
        images = images / np.float32(255)
    locations = rng.uniform(-1.3, 1.3, (5, 2)).astype(np.float32)  # some past the border
    locations[0] = 0.0
    if not as_numpy:
        images, locations = torch.from_numpy(images), torch.from_numpy(locations)
    table = integral_image(images)
    assert (table.field_bits is not None) == (layout == "packed")
    for source in (images, table):
        colour = extract_glimpses(source, locations, 6, 4, 2)
        assert tuple(colour.shape) == (5, 4, channels, 6, 6)
        for c in range(channels):
            one = extract_glimpses(images[:, c], locations, 6, 4, 2)
            assert (colour[:, :, c] == one).all()
    with pytest.raises(ValueError, match="locations must be"):
        extract_glimpses(images, locations[:4], 6, 3, 2)
