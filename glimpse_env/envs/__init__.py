"""Gymnasium environments: the single env, the native vector env and their registered ids."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from glimpse_env.envs.cluttered_mnist import ClutteredMNISTEnv
from glimpse_env.envs.core import GlimpseEpisodes, TaskConfig
from glimpse_env.envs.vector import GlimpseVectorEnv

#: The registered ids and their settings (the papers' tasks). Any field can be overridden with
#: ``gym.make(id, field=value)``.
ENV_IDS: dict[str, dict[str, Any]] = {
    # Mnih et al. 2014, 60x60 cluttered MNIST: 4 distractors of 8x8, 6 glimpses of 3 scales.
    "ClutteredMNIST-v0": dict(
        canvas_size=60, num_distractors=4, glimpse_size=12, num_scales=3, num_glimpses=6
    ),
    # Mnih et al. 2014, 100x100 cluttered MNIST: 8 distractors, 8 glimpses of 4 scales.
    "ClutteredMNIST100-v0": dict(
        canvas_size=100, num_distractors=8, glimpse_size=12, num_scales=4, num_glimpses=8
    ),
    # Mnih et al. 2014, 60x60 translated MNIST: no clutter, 6 glimpses of 3 scales.
    "TranslatedMNIST-v0": dict(
        canvas_size=60, num_distractors=0, glimpse_size=12, num_scales=3, num_glimpses=6
    ),
    # Mnih et al. 2014, 28x28 centred MNIST: 6 glimpses of one 8x8 patch.
    "MNIST-v0": dict(
        canvas_size=28, num_distractors=0, glimpse_size=8, num_scales=1, num_glimpses=6
    ),
}


def register_envs() -> None:
    """Register every id in :data:`ENV_IDS` (idempotent)."""
    for env_id, kwargs in ENV_IDS.items():
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point="glimpse_env.envs.cluttered_mnist:ClutteredMNISTEnv",
            vector_entry_point="glimpse_env.envs.vector:GlimpseVectorEnv",
            kwargs=dict(kwargs),
        )


__all__ = [
    "ENV_IDS",
    "ClutteredMNISTEnv",
    "GlimpseEpisodes",
    "GlimpseVectorEnv",
    "TaskConfig",
    "register_envs",
]
