"""Feature extractors for the SB3 baselines' ``MultiInput*`` policies.

SB3's default ``CombinedExtractor`` flattens the glimpse and the location and concatenates them,
so an LSTM policy sees raw pixels. :class:`GlimpseFeatures` puts RAM's glimpse network
(:class:`agents.models.ram.GlimpseNetwork`, the same layer sizes) in front instead, so that the
baselines and RAM differ in how they are trained, not in how they see. Policies name it by
string in their ``policy_kwargs`` (``"features_extractor_class": "glimpse"``), which keeps
presets JSON-serialisable; :func:`resolve_policy_kwargs` turns the name into the class.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, CombinedExtractor

from agents.models.ram import GlimpseNetwork, RAMSizes


class GlimpseFeatures(BaseFeaturesExtractor):
    """``relu(FC(relu(FC(glimpse))) + FC(relu(FC(location))))`` on a ``Dict`` observation.

    Observation: ``"glimpse"`` ``(N, C, g, g)`` in [0, 1] (``C`` = scales, times the stack depth
    under ``VecFrameStack``), ``"location"`` ``(N, L)`` normalised coordinates (``L`` = 2,
    times the stack depth) and, when the space has it, ``"step"`` ``(N, S)`` (the env's step
    fraction, times the stack depth), which joins the location pathway. Output:
    ``(N, features_dim)``.

    Args:
        observation_space: the policy's ``Dict`` space.
        features_dim: output size (RAM's glimpse vector: 256).
        glimpse_hidden, location_hidden: first layers of the two pathways (RAM: 128 each).
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        features_dim: int = 256,
        glimpse_hidden: int = 128,
        location_hidden: int = 128,
    ) -> None:
        super().__init__(observation_space, features_dim)
        for key in ("glimpse", "location"):
            if key not in observation_space.spaces:
                raise ValueError(f"GlimpseFeatures needs a {key!r} observation; got "
                                 f"{sorted(observation_space.spaces)}")  # fmt: skip
        glimpse_dim = int(np.prod(observation_space["glimpse"].shape))
        location_dim = int(np.prod(observation_space["location"].shape))
        self.uses_step = "step" in observation_space.spaces
        if self.uses_step:  # "where" and "when" enter the location pathway together
            location_dim += int(np.prod(observation_space["step"].shape))
        sizes = RAMSizes(
            glimpse_hidden=glimpse_hidden, location_hidden=location_hidden, hidden=features_dim
        )
        self.net = GlimpseNetwork(glimpse_dim, sizes, location_dim=location_dim)

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        where = observations["location"].flatten(1)
        if self.uses_step:
            where = torch.cat([where, observations["step"].flatten(1)], dim=1)
        return self.net(observations["glimpse"], where)


#: Names usable as ``policy_kwargs["features_extractor_class"]`` in presets and tuning grids.
FEATURE_EXTRACTORS: dict[str, type[BaseFeaturesExtractor]] = {
    "glimpse": GlimpseFeatures,
    "flatten": CombinedExtractor,
}


def resolve_policy_kwargs(policy_kwargs: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``policy_kwargs`` with a string ``features_extractor_class`` replaced by the
    class it names (an unknown name raises ``ValueError`` listing the known ones)."""
    resolved = dict(policy_kwargs)
    name = resolved.get("features_extractor_class")
    if isinstance(name, str):
        if name not in FEATURE_EXTRACTORS:
            raise ValueError(
                f"unknown features_extractor_class {name!r}; known: {sorted(FEATURE_EXTRACTORS)}"
            )
        resolved["features_extractor_class"] = FEATURE_EXTRACTORS[name]
    return resolved
