"""L-DRAM's supervised location loss: pull the emitted locations towards the digit.

``loss = weight(u) * mean over labelled episodes and choices of ||mean_t - centre||^2``

``centre`` is the digit's centre in normalised coordinates, from the canvas bounding box
(``info["bbox"]``, privileged). ``weight(u) = weight_0 * 0.5 ** (u / half_life)`` decays
exponentially over training updates ``u``, so the supervision guides early training and
REINFORCE takes over. Only episodes whose source example is "labelled" contribute: the first
``fraction * num_sources`` examples of the training split, the same subset in every run.
"""

from __future__ import annotations

import torch


def digit_centres(bboxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``(..., 2)`` normalised (x, y) centres of ``(..., 4)`` pixel boxes ``(x0, y0, x1, y1)``
    (max exclusive): ``x = (x0 + x1) / width - 1``, the retina's convention."""
    b = bboxes.to(torch.float32)
    x = (b[..., 0] + b[..., 2]) / width - 1.0
    return torch.stack([x, (b[..., 1] + b[..., 3]) / height - 1.0], -1)


def labelled(sources: torch.Tensor, fraction: float, num_sources: int) -> torch.Tensor:
    """``(N,)`` bool: whether each episode's source example has a location label."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"location-label fraction must be in [0, 1], got {fraction}")
    return sources < round(fraction * num_sources)


def location_weight(update: int, weight: float, half_life: float) -> float:
    """The importance weight at ``update``: ``weight * 0.5 ** (update / half_life)``."""
    return weight * 0.5 ** (update / half_life)


def location_loss(means: torch.Tensor, centres: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared distance of ``(N, T, 2)`` location means to ``(N, 2)`` centres (or
    ``(N, T, 2)``, one per choice) over the masked episodes (0 when none is labelled)."""
    if means.shape[1] == 0 or not bool(mask.any()):
        return means.sum() * 0.0
    if centres.dim() == 2:
        centres = centres.unsqueeze(1)
    squared = (means - centres).pow(2).sum(-1)  # (N, T)
    return squared[mask].mean()
