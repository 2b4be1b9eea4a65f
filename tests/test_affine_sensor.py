"""The differentiable affine sensor: gradients, agreement with the retina, errors."""

from __future__ import annotations

import pytest
import torch

from glimpse_env.affine_sensor import IDENTITY, affine_glimpse, window_theta
from glimpse_env.retina import extract_glimpses


def test_gradients_match_finite_differences():
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(2, 9, 11, dtype=torch.float64, generator=generator, requires_grad=True)
    # Generic (sheared, off-centre) transforms, away from pixel-aligned kinks of bilinear sampling.
    theta = torch.tensor(
        [[0.43, 0.07, 0.113, -0.05, 0.51, -0.21], [0.61, -0.11, -0.337, 0.09, 0.37, 0.173]],
        dtype=torch.float64,
        requires_grad=True,
    )
    assert torch.autograd.gradcheck(lambda i, t: affine_glimpse(i, t, (5, 4)), (images, theta))


def test_axis_aligned_window_at_integer_pixels_equals_the_retina(mnist_test):
    canvases = torch.zeros(3, 60, 60, dtype=torch.uint8)
    canvases[:, 10:38, 20:48] = torch.from_numpy(mnist_test.images[:3].copy())
    g = 12
    # Window starts on pixel boundaries: centre pixel coordinate c with c - g/2 an integer.
    pixel_centres = torch.tensor([[26.0, 24.0], [30.0, 30.0], [4.0, 57.0]])  # last: padded
    centres = pixel_centres / 60 * 2 - 1
    sampled = affine_glimpse(canvases, window_theta(centres, g, 60, 60), g)
    retina = extract_glimpses(canvases, centres, g, 1)[:, 0]
    assert torch.allclose(sampled, retina, atol=1e-6)
    assert float(sampled[0].sum()) > 0


def test_identity_reproduces_the_image_and_outside_is_zero():
    images = torch.rand(2, 3, 8, 8)
    same = affine_glimpse(images, torch.tensor([IDENTITY, IDENTITY]), 8)
    assert torch.allclose(same, images, atol=1e-6)
    away = torch.tensor([[0.5, 0, 5.0, 0, 0.5, 5.0]] * 2)  # window far outside the canvas
    assert float(affine_glimpse(images, away, 4).abs().max()) == 0.0


def test_bad_input_is_rejected_with_a_message():
    images = torch.zeros(2, 8, 8)
    with pytest.raises(ValueError, match=r"theta must have shape \(2, 6\)"):
        affine_glimpse(images, torch.zeros(2, 4), 4)
    with pytest.raises(ValueError, match="NaN or inf"):
        affine_glimpse(images, torch.full((2, 6), float("nan")), 4)
    with pytest.raises(ValueError, match="size must be positive"):
        affine_glimpse(images, torch.zeros(2, 6), 0)
    with pytest.raises(ValueError, match="images must be"):
        affine_glimpse(torch.zeros(8, 8), torch.zeros(8, 6), 4)
