"""Wrappers: action-space adapters for libraries that cannot take the env's ``Dict`` action
(SB3), and the whole canvas as an observation for full-image models.

:class:`GridActions` turns ``{"location": Box(2), "label": Discrete(C)}`` into
``MultiDiscrete([G, G, C])`` (``C``: the env's classes, 10 digits or the 19 sums of
``MNISTAddition-v0``): the next glimpse is taken at grid point ``(ix, iy)`` of a ``G x G``
grid spanning [-1, 1]^2 (``G`` points per axis, corners included), and ``label`` is named as
before. Observations (still the ``Dict`` of glimpse and location), rewards, terminations and
``info`` are unchanged, so an episode means exactly what it means without the wrapper.

Why a grid: PPO's categorical heads suit both choices, and every wrapper action maps to exactly
one env action and back (:func:`grid_indices` of :func:`grid_locations` is the identity), so
nothing is lost in translation. The price is resolution: with ``G = 9`` on a 60-pixel canvas
neighbouring fixations are 7.5 pixels apart (about half the 12-pixel fovea).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from glimpse_env.checks import check_int
from glimpse_env.envs.cluttered_mnist import NUM_CLASSES

DEFAULT_GRID_SIZE = 9


def grid_locations(indices: np.ndarray, grid_size: int) -> np.ndarray:
    """``(..., 2)`` integer grid indices ``(ix, iy)`` -> normalised ``(x, y)`` float32 in
    [-1, 1] (index 0 is -1, index ``grid_size - 1`` is +1)."""
    indices = np.asarray(indices)
    return (indices.astype(np.float64) * (2.0 / (grid_size - 1)) - 1.0).astype(np.float32)


def grid_indices(locations: np.ndarray, grid_size: int) -> np.ndarray:
    """``(..., 2)`` normalised locations -> the nearest grid indices (int64), clipped to the
    grid. Exact inverse of :func:`grid_locations` on grid points."""
    locations = np.clip(np.asarray(locations, dtype=np.float64), -1.0, 1.0)
    return np.rint((locations + 1.0) * ((grid_size - 1) / 2.0)).astype(np.int64)


def check_grid_action(
    action: Any, grid_size: int, batch: int | None = None, num_classes: int = NUM_CLASSES
) -> np.ndarray:
    """Validate ``(3,)`` (or ``(batch, 3)``) integer actions ``(ix, iy, label)``.

    Raises:
        ValueError: wrong shape, non-integers, or values outside the grid /
            ``0 .. num_classes - 1``.
    """
    array = np.asarray(action)
    shape = (3,) if batch is None else (batch, 3)
    if array.shape != shape:
        raise ValueError(f"grid action must have shape {shape} (ix, iy, label), got {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            raise ValueError(f"grid action must be integers, got {array.tolist()}")
        array = array.astype(np.int64)
    high = np.array([grid_size, grid_size, num_classes])
    if np.any(array < 0) or np.any(array >= high):
        raise ValueError(
            f"grid action out of range: ix, iy in 0..{grid_size - 1}, label in "
            f"0..{num_classes - 1}; got {array.tolist()}"
        )
    return array.astype(np.int64)


class GridActions(gym.ActionWrapper):
    """Expose a ``MultiDiscrete([G, G, C])`` action space, ``C`` the env's label classes (see
    the module docstring).

    >>> import gymnasium as gym
    >>> import glimpse_env
    >>> env = GridActions(gym.make("MNISTAddition-v0"), grid_size=9)
    >>> env.action_space
    MultiDiscrete([ 9  9 19])
    >>> env.action([0, 8, 18])["location"].tolist(), env.action([0, 8, 18])["label"]
    ([-1.0, 1.0], 18)

    Args:
        env: a glimpse env (``gym.make("ClutteredMNIST-v0")`` or any id).
        grid_size: ``G``, grid points per axis (>= 2).
    """

    def __init__(self, env: gym.Env, grid_size: int = DEFAULT_GRID_SIZE) -> None:
        super().__init__(env)
        check_int("grid_size", grid_size, minimum=2)
        self.grid_size = grid_size
        actions = env.action_space
        if not isinstance(actions, spaces.Dict) or "label" not in actions.spaces:
            raise ValueError(f"GridActions needs a glimpse env's Dict action space, got {actions}")
        self.num_classes = int(actions["label"].n)  # type: ignore[attr-defined]
        self.action_space = spaces.MultiDiscrete([grid_size, grid_size, self.num_classes])

    def action(self, action: Any) -> dict[str, Any]:
        """``(ix, iy, label)`` -> ``{"location": (2,) float32, "label": int}``."""
        ix, iy, label = check_grid_action(action, self.grid_size, num_classes=self.num_classes)
        return {"location": grid_locations(np.array([ix, iy]), self.grid_size), "label": int(label)}

    def reverse_action(self, action: dict[str, Any]) -> np.ndarray:
        """``{"location", "label"}`` -> ``(ix, iy, label)``, the location rounded to the grid."""
        indices = grid_indices(np.asarray(action["location"]).reshape(2), self.grid_size)
        return np.array([indices[0], indices[1], int(action["label"])], dtype=np.int64)


class CanvasObservation(gym.ObservationWrapper):
    """Adds the whole canvas to the observation: ``canvas: Box(0, 255, (H, W), uint8)``, or
    ``(C, H, W)`` for ``C``-channel canvases.

    For models that read the full image rather than glimpses (the supervised FC/CNN baselines,
    EDRAM's spatial transformer), so that they run through the same ``predict`` loop as the
    glimpse agents and are scored on the same episodes. The task is then no longer partially
    observed: use it to compare against such models, not as a glimpse agent's input.

    Example:
        >>> import gymnasium as gym
        >>> import glimpse_env
        >>> from glimpse_env.envs.wrappers import CanvasObservation
        >>> env = CanvasObservation(gym.make("ClutteredMNIST-v0", split="test"))
        >>> obs, info = env.reset(options={"evaluation_canvas": 0})
        >>> obs["canvas"].shape, obs["canvas"].dtype
        ((60, 60), dtype('uint8'))
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        shape = env.unwrapped.canvas.shape  # type: ignore[attr-defined]
        self.observation_space = spaces.Dict(
            {**env.observation_space, "canvas": _canvas_space(shape)}  # type: ignore[dict-item]
        )

    def observation(self, observation: dict[str, Any]) -> dict[str, Any]:
        return {**observation, "canvas": self.env.unwrapped.canvas.copy()}  # type: ignore[attr-defined]


class VectorCanvasObservation(gym.vector.VectorObservationWrapper):
    """:class:`CanvasObservation` for the native vector env: ``canvas`` is ``(N, H, W)`` uint8
    (``(N, C, H, W)`` for ``C`` channels), numpy or torch like the env's other observations.

    Example:
        >>> import gymnasium as gym
        >>> import glimpse_env
        >>> from glimpse_env.envs.wrappers import VectorCanvasObservation
        >>> venv = VectorCanvasObservation(gym.make_vec("ClutteredMNIST-v0", num_envs=4))
        >>> obs, info = venv.reset(seed=0)
        >>> obs["canvas"].shape, venv.single_observation_space["canvas"].shape
        ((4, 60, 60), (60, 60))
    """

    def __init__(self, env: gym.vector.VectorEnv) -> None:
        super().__init__(env)
        canvases = env.unwrapped.canvases  # type: ignore[attr-defined]
        single = spaces.Dict(
            {**env.single_observation_space, "canvas": _canvas_space(canvases.shape[1:])}  # type: ignore[dict-item]
        )
        self.single_observation_space = single
        self.observation_space = gym.vector.utils.batch_space(single, env.num_envs)

    def observations(self, observations: dict[str, Any]) -> dict[str, Any]:
        canvases = self.env.unwrapped.canvases.clone()  # type: ignore[attr-defined]
        if not isinstance(observations["glimpse"], torch.Tensor):
            canvases = canvases.cpu().numpy()
        return {**observations, "canvas": canvases}


def _canvas_space(shape: tuple[int, ...]) -> spaces.Box:
    """uint8 canvases of ``shape``, ``(H, W)`` or ``(C, H, W)``."""
    return spaces.Box(0, 255, tuple(int(side) for side in shape), np.uint8)
