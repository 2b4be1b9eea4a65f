"""``ClutteredMNISTEnv``: classify a digit on a cluttered canvas from a few glimpses."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from glimpse_env.envs.core import NUM_CLASSES, GlimpseEpisodes, TaskConfig, task_config
from glimpse_env.keyed_random import key_from_generator
from glimpse_env.render import draw_trajectory


def observation_space(config: TaskConfig) -> spaces.Dict:
    """``Dict(glimpse=Box(0, 1, (k, g, g)), location=Box(-1, 1, (2,)), step=Box(0, 1, (1,)))``,
    float32, plus ``context=Box(0, 1, (c, c))`` when ``config.context_size = c > 0``."""
    k, g = config.num_scales, config.glimpse_size
    entries = {
        "glimpse": spaces.Box(0.0, 1.0, (k, g, g), np.float32),
        "location": spaces.Box(-1.0, 1.0, (2,), np.float32),
        "step": spaces.Box(0.0, 1.0, (1,), np.float32),
    }
    if config.context_size:
        c = config.context_size
        entries["context"] = spaces.Box(0.0, 1.0, (c, c), np.float32)
    return spaces.Dict(entries)


def action_space() -> spaces.Dict:
    """``Dict(location=Box(-1, 1, (2,), float32), label=Discrete(10))``."""
    return spaces.Dict(
        location=spaces.Box(-1.0, 1.0, (2,), np.float32), label=spaces.Discrete(NUM_CLASSES)
    )


def parse_action(action: Any, num_envs: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Check an action and return ``(locations (N, 2) float32, labels (N,) int64)`` tensors.

    Args:
        action: mapping with ``"location"`` and ``"label"``; numpy arrays, tensors or numbers.
        num_envs: None for one environment (location ``(2,)``, scalar label), else N.

    Raises:
        ValueError: missing keys, wrong shapes, NaN/inf locations, labels outside 0-9.
    """
    if not hasattr(action, "keys") or not {"location", "label"} <= set(action.keys()):
        raise ValueError(
            f"action must be a dict with keys 'location' and 'label', got {type(action).__name__}"
            + (f" with keys {sorted(action.keys())}" if hasattr(action, "keys") else "")
        )
    location, label = action["location"], action["label"]
    location = (
        location if isinstance(location, torch.Tensor) else torch.as_tensor(np.asarray(location))
    )
    label = label if isinstance(label, torch.Tensor) else torch.as_tensor(np.asarray(label))
    loc_shape, label_shape = ((2,), ()) if num_envs is None else ((num_envs, 2), (num_envs,))
    if tuple(location.shape) != loc_shape:
        raise ValueError(
            f'action["location"] must have shape {loc_shape} (x, y in [-1, 1]), '
            f"got {tuple(location.shape)}"
        )
    if not location.dtype.is_floating_point and location.dtype not in (torch.int32, torch.int64):
        raise ValueError(f'action["location"] must be a float array, got {location.dtype}')
    if not bool(torch.isfinite(location).all()):
        raise ValueError(f'action["location"] contains NaN or inf: {location.tolist()}')
    if tuple(label.shape) != label_shape:
        raise ValueError(f'action["label"] must have shape {label_shape}, got {tuple(label.shape)}')
    if label.dtype.is_floating_point or label.dtype == torch.bool or label.is_complex():
        raise ValueError(f'action["label"] must be an integer class 0-9, got dtype {label.dtype}')
    label = label.to(torch.int64)  # unsigned labels (np.uint16(3)) too; huge ones wrap below 0
    if bool(((label < 0) | (label >= NUM_CLASSES)).any()):
        raise ValueError(f'action["label"] must be in 0..9, got {label.tolist()}')
    return location.reshape(-1, 2).to(torch.float32), label.reshape(-1).to(torch.int64)


class ClutteredMNISTEnv(gym.Env):
    """Find and name a digit on a canvas while seeing it only through glimpses.

    Observation ``{"glimpse": (k, g, g) float32 in [0, 1], "location": (2,) float32, "step": (1,)
    float32}``: ``k`` square patches of growing side ``g * s**i`` around ``location``, each
    reduced to ``g x g`` (see :mod:`glimpse_env.retina` for the exact geometry), the location
    they were taken at, and the steps taken so far over ``num_glimpses``: 0 after ``reset``,
    ``(num_glimpses - 1) / num_glimpses`` on the observation after which the label is scored, 1
    on the terminal observation. The step makes the task Markov for a memoryless or frame-stacked
    policy (the label is an action at every step but is read only at the last one).
    With ``context_size=c`` also ``"context"``: ``(c, c)`` float32, the whole canvas downsampled
    (the same for every step of an episode; DRAM's coarse view).

    Action ``{"location": (2,) float32, "label": int}``: where to look next, normalised (x, y)
    with (-1, -1) the top-left corner and (1, 1) the bottom-right; values outside [-1, 1] are
    clipped, NaN/inf raise ``ValueError``. ``label`` is read only on the last step.

    Episode: ``reset`` draws a canvas and returns the glimpse at the initial location (the centre,
    or uniform on [-1, 1]^2 with ``initial_location="random"``); that is observation 1 of
    ``num_glimpses``. Each ``step`` moves to ``action["location"]`` and returns the glimpse there
    with reward 0; step ``num_glimpses`` also scores ``action["label"]`` (reward 1.0 if right,
    else 0.0) and returns ``terminated=True``. Episodes never truncate.

    ``info`` (privileged, for supervised and hybrid losses, not for the policy's input):
    ``"label"`` the true class (int), ``"bbox"`` the digit's 28x28 box in canvas pixels
    ``(x_min, y_min, x_max, y_max)`` (max exclusive, int64); on the final step also
    ``"is_success"`` (bool).

    Args: see :class:`glimpse_env.envs.core.TaskConfig`; plus ``render_mode`` (``"rgb_array"``)
    and ``device`` (where canvases and glimpses are computed; observations are numpy either way).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 2}

    def __init__(
        self,
        render_mode: str | None = None,
        device: str | torch.device = "cpu",
        **task: Any,
    ) -> None:
        """``task``: any field of :class:`TaskConfig` (``canvas_size``, ``num_distractors``,
        ``glimpse_size``, ``num_scales``, ``scale_factor``, ``num_glimpses``, ``split``,
        ``initial_location``, ``context_size``, ``data_dir``, ``dataset_path``); the rest keep
        TaskConfig's defaults (the registered ids pass the papers' settings)."""
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None")
        self.config = task_config(**task)
        self.render_mode = render_mode
        self.observation_space = observation_space(self.config)
        self.action_space = action_space()
        self._episodes = GlimpseEpisodes(self.config, num_envs=1, device=device)
        self._path: list[np.ndarray] = []
        self._needs_reset = True

    @property
    def canvas(self) -> np.ndarray:
        """The current canvas, ``(H, W)`` uint8 0-255 (privileged)."""
        return self._episodes.images[0].cpu().numpy()

    def _observation(self, glimpses: torch.Tensor) -> dict[str, np.ndarray]:
        location = self._episodes.locations[0].cpu().numpy()
        self._path.append(location)
        step = self._episodes.steps[:1].to(torch.float32) / self.config.num_glimpses
        observation = {
            "glimpse": glimpses[0].cpu().numpy(),
            "location": location.copy(),
            "step": step.cpu().numpy(),
        }
        if self.config.context_size:
            observation["context"] = self._episodes.context[0].cpu().numpy().copy()
        return observation

    def _info(self) -> dict[str, Any]:
        return {
            "label": int(self._episodes.labels[0]),
            "bbox": self._episodes.bboxes[0].cpu().numpy().copy(),
        }

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None or self._episodes.episodes[0] < 0:
            self._episodes.set_keys(np.array([key_from_generator(self.np_random)], np.uint64))
        self._path = []
        self._needs_reset = False
        observation = self._observation(self._episodes.reset())
        return observation, self._info()

    def step(
        self, action: dict[str, Any]
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        if self._needs_reset:
            raise RuntimeError("call reset() before step(); the episode has ended or not started")
        locations, labels = parse_action(action, num_envs=None)
        result = self._episodes.step(locations, labels)
        terminated = bool(result.terminated[0])
        info = self._info()
        if terminated:
            info["is_success"] = bool(result.rewards[0] > 0)
            self._needs_reset = True
        observation = self._observation(result.glimpses)
        return observation, float(result.rewards[0]), terminated, False, info

    def render(self) -> np.ndarray | None:
        """``(H', W', 3)`` uint8: the canvas with the current glimpse's squares and the path."""
        if self.render_mode is None:
            gym.logger.warn("render() called without render_mode; pass render_mode='rgb_array'")
            return None
        c = self.config
        return draw_trajectory(
            self.canvas, np.asarray(self._path), c.glimpse_size, c.num_scales, c.scale_factor
        )
