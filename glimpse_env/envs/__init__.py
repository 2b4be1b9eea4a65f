"""Gymnasium environments: the single env, the native vector env and their registered ids."""

from __future__ import annotations

import warnings
from typing import Any

import gymnasium as gym

from glimpse_env.envs.cluttered_mnist import ClutteredMNISTEnv
from glimpse_env.envs.core import GlimpseEpisodes
from glimpse_env.envs.task import TaskConfig, task_config
from glimpse_env.envs.vector import GlimpseVectorEnv

#: Every id is registered as ``GlimpseEnv/<name>`` (Gymnasium's namespace form, which no other
#: package can take over) and, where the bare name is free, as ``<name>`` too.
NAMESPACE = "GlimpseEnv"
ENTRY_POINT = "glimpse_env.envs.cluttered_mnist:ClutteredMNISTEnv"
VECTOR_ENTRY_POINT = "glimpse_env.envs.vector:GlimpseVectorEnv"

#: The tasks (by bare name) and their settings (the papers' tasks). Any field can be overridden
#: with ``gym.make(id, field=value)``.
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
    # Ba et al. 2014, MNIST pairs: two non-overlapping digits on ClutteredMNIST100-v0's canvas
    # (100x100, 8 distractors), named left to right; 6 glimpses per digit, 12 in all.
    "ClutteredMNISTPairs-v0": dict(
        canvas_size=100, num_distractors=8, glimpse_size=12, num_scales=4, num_glimpses=6,
        num_digits=2, target="sequence",
    ),
    # Ba et al. 2014, two-digit addition: the same canvases, one answer (the sum, 19 classes)
    # after 12 glimpses.
    "MNISTAddition-v0": dict(
        canvas_size=100, num_distractors=8, glimpse_size=12, num_scales=4, num_glimpses=6,
        num_digits=2, target="sum",
    ),
    # Seed 001's L-DRAM task: 200x200 canvases with 4 to 50 distractors each (drawn per
    # canvas), 8 glimpses of 4 scales of 16x16 (16 to 128 pixels).
    "ClutteredMNIST200Var-v0": dict(
        canvas_size=200, num_distractors=(4, 50), glimpse_size=16, num_scales=4, num_glimpses=8
    ),
}  # fmt: skip

#: Tasks on your own images (``source=`` an :class:`glimpse_env.data.sources.ImageSource` or a
#: dataset file): each canvas is one image of the split, at its own size unless
#: ``canvas_size`` is larger (then placed at random, among ``num_distractors`` patches of
#: other images). Registered like :data:`ENV_IDS`, with entry points that require ``source``.
IMAGE_ENV_IDS: dict[str, dict[str, Any]] = {
    "Images-v0": dict(num_distractors=0, glimpse_size=8, num_scales=3, num_glimpses=6),
}
IMAGES_ENTRY_POINT = "glimpse_env.envs.cluttered_mnist:make_images_env"
IMAGES_VECTOR_ENTRY_POINT = "glimpse_env.envs.vector:make_images_vector_env"


def task_name(env_id: str) -> str:
    """The bare task name of ``"GlimpseEnv/ClutteredMNIST-v0"`` or ``"ClutteredMNIST-v0"``.

    Raises:
        ValueError: not one of this package's tasks.
    """
    name = env_id.removeprefix(f"{NAMESPACE}/")
    if name not in ENV_IDS:
        raise ValueError(
            f"unknown env id {env_id!r}; registered: {sorted(ENV_IDS)} (also as {NAMESPACE}/<name>)"
        )
    return name


def task_settings(env_id: str, **overrides: Any) -> dict[str, Any]:
    """The task fields of a registered id with ``overrides`` applied (None keeps the id's):
    what ``gym.make(env_id, **overrides)`` plays, as keyword arguments of
    :class:`~glimpse_env.envs.task.TaskConfig` or of the envs."""
    return {
        **ENV_IDS[task_name(env_id)],
        **{name: value for name, value in overrides.items() if value is not None},
    }


def task_of(env_id: str, **overrides: Any) -> TaskConfig:
    """The :class:`~glimpse_env.envs.task.TaskConfig` of a registered id
    (:func:`task_settings`); an unknown field is one clear error."""
    return task_config(**task_settings(env_id, **overrides))


def _ours(env_id: str) -> bool:
    return gym.registry[env_id].entry_point in (ENTRY_POINT, IMAGES_ENTRY_POINT)


def register_envs() -> None:
    """Register every task as ``GlimpseEnv/<name>``, and as ``<name>`` where that id is free
    (idempotent).

    A bare name another package has already registered (e.g. ``MNIST-v0``) is left to it, with
    a warning naming our namespaced id; a package that registers one of our bare names later
    replaces it with Gymnasium's own override warning. The namespaced ids always stay ours.
    """
    tasks = [(name, kwargs, ENTRY_POINT, VECTOR_ENTRY_POINT) for name, kwargs in ENV_IDS.items()]
    tasks += [
        (name, kwargs, IMAGES_ENTRY_POINT, IMAGES_VECTOR_ENTRY_POINT)
        for name, kwargs in IMAGE_ENV_IDS.items()
    ]
    for name, kwargs, entry_point, vector_entry_point in tasks:
        for env_id in (f"{NAMESPACE}/{name}", name):
            if env_id in gym.registry:
                if not _ours(env_id):
                    warnings.warn(
                        f"{env_id!r} is registered by another package "
                        f"({gym.registry[env_id].entry_point}); glimpse_env's task is "
                        f"{NAMESPACE}/{name}",
                        stacklevel=2,
                    )
                continue
            gym.register(
                id=env_id,
                entry_point=entry_point,
                vector_entry_point=vector_entry_point,
                kwargs=dict(kwargs),
            )


__all__ = [
    "ENV_IDS",
    "IMAGE_ENV_IDS",
    "NAMESPACE",
    "ClutteredMNISTEnv",
    "GlimpseEpisodes",
    "GlimpseVectorEnv",
    "TaskConfig",
    "register_envs",
    "task_name",
    "task_of",
    "task_settings",
]
