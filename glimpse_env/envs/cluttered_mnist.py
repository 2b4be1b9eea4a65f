"""``ClutteredMNISTEnv``: classify a digit on a cluttered canvas from a few glimpses."""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from glimpse_env.data.sources import ImageSource
from glimpse_env.envs.canvases import require_source, resolve_images
from glimpse_env.envs.core import GlimpseEpisodes
from glimpse_env.envs.task import NUM_CLASSES, TaskConfig, task_config
from glimpse_env.evaluation import evaluation_options
from glimpse_env.keyed_random import key_from_generator
from glimpse_env.render import draw_trajectory


def observation_space(config: TaskConfig, channels: int = 1) -> spaces.Dict:
    """``Dict(glimpse=Box(0, 1, (k, g, g)), location=Box(-1, 1, (2,)), step=Box(0, 1, (1,)))``,
    float32, plus ``context=Box(0, 1, (c, c))`` when ``config.context_size = c > 0``; with
    ``channels = C > 1`` the glimpse is ``(k, C, g, g)`` and the context ``(C, c, c)``."""
    k, g = config.num_scales, config.glimpse_size
    planes = (channels,) if channels > 1 else ()
    entries: dict[str, spaces.Space] = {
        "glimpse": spaces.Box(0.0, 1.0, (k, *planes, g, g), np.float32),
        "location": spaces.Box(-1.0, 1.0, (2,), np.float32),
        "step": spaces.Box(0.0, 1.0, (1,), np.float32),
    }
    if config.context_size:
        c = config.context_size
        entries["context"] = spaces.Box(0.0, 1.0, (*planes, c, c), np.float32)
    return spaces.Dict(entries)


def action_space(config: TaskConfig | None = None) -> spaces.Dict:
    """``Dict(location=Box(-1, 1, (2,), float32), label=Discrete(C))``: ``C`` is
    ``config.num_classes``: 10 digits, the ``classes`` of an own image source, or the
    ``9 * num_digits + 1`` possible sums when ``config.target == "sum"`` (10 without a config)."""
    classes = config.num_classes if config is not None else NUM_CLASSES
    return spaces.Dict(
        location=spaces.Box(-1.0, 1.0, (2,), np.float32), label=spaces.Discrete(classes)
    )


def _numeric(value: Any, field: str) -> torch.Tensor:
    """``value`` as a tensor of numbers; a ``ValueError`` naming ``action[field]`` otherwise
    (strings, None, objects)."""
    if isinstance(value, torch.Tensor):
        return value
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:  # ragged lists
        raise ValueError(f'action["{field}"] must be numbers, got {value!r}: {error}') from None
    if array.dtype.kind not in "biuf":
        raise ValueError(f'action["{field}"] must be numbers, got {value!r}')
    return torch.as_tensor(array)


def check_reset_options(options: dict[str, Any] | None, allowed: tuple[str, ...]) -> None:
    """Raise ``ValueError`` naming any ``reset(options=...)`` key the env does not know."""
    if options is None:
        return
    if not isinstance(options, dict):
        raise ValueError(f"options must be a dict, got {type(options).__name__}")
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"unknown reset options {unknown}; this env takes {list(allowed)}")


def parse_action(
    action: Any, num_envs: int | None, num_classes: int = NUM_CLASSES
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check an action and return ``(locations (N, 2) float32, labels (N,) int64)`` tensors.

    Args:
        action: mapping with ``"location"`` and ``"label"``; numpy arrays, tensors or numbers.
        num_envs: None for one environment (location ``(2,)``, scalar label), else N.
        num_classes: labels must be in ``0 .. num_classes - 1``.

    Raises:
        ValueError: missing keys, wrong shapes, NaN/inf locations, labels out of range.
    """
    if not hasattr(action, "keys") or not {"location", "label"} <= set(action.keys()):
        raise ValueError(
            f"action must be a dict with keys 'location' and 'label', got {type(action).__name__}"
            + (f" with keys {sorted(action.keys())}" if hasattr(action, "keys") else "")
        )
    location = _numeric(action["location"], "location")
    label = _numeric(action["label"], "label")
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
        raise ValueError(
            f'action["label"] must be an integer class 0-{num_classes - 1}, got dtype {label.dtype}'
        )
    label = label.to(torch.int64)  # unsigned labels (np.uint16(3)) too; huge ones wrap below 0
    if bool(((label < 0) | (label >= num_classes)).any()):
        raise ValueError(f'action["label"] must be in 0..{num_classes - 1}, got {label.tolist()}')
    return location.reshape(-1, 2).to(torch.float32), label.reshape(-1).to(torch.int64)


def episode_info(episodes: GlimpseEpisodes) -> dict[str, Any]:
    """The privileged ``info`` entries of N episodes, batched tensors (the single env takes row
    0): ``label`` ``(N,)`` and ``bbox`` ``(N, 4)`` for one digit; ``labels`` ``(N, D)``,
    ``bboxes`` ``(N, D, 4)`` (and ``label``, the sum, for ``target="sum"``) for several."""
    config = episodes.config
    if config.num_digits == 1:
        return {"label": episodes.labels.clone(), "bbox": episodes.bboxes.clone()}
    info = {"labels": episodes.digit_labels.clone(), "bboxes": episodes.digit_bboxes.clone()}
    if config.target == "sum":
        info["label"] = episodes.answers[:, 0].clone()
    return info


#: The ``reset(options=...)`` keys of the single env (:mod:`glimpse_env.evaluation`).
RESET_OPTIONS = ("evaluation_canvas", "eval_seed")


class ClutteredMNISTEnv(gym.Env):
    """Find and name a digit on a canvas while seeing it only through glimpses.

    ## Description

    The recurrent visual attention task of Mnih et al. 2014 (and, with several digits, of Ba et
    al. 2014): a digit sits on a canvas, possibly among clutter; the agent sees ``k``
    concentric patches around a location it chooses, ``num_glimpses`` times, then names the
    class. The registered ids (``ClutteredMNIST-v0``, ``TranslatedMNIST-v0``, ...) are the
    papers' settings.

    ## Action Space

    ``Dict(location=Box(-1, 1, (2,), float32), label=Discrete(C))``: where to look next,
    normalised (x, y) with (-1, -1) the top-left corner and (1, 1) the bottom-right (values
    outside [-1, 1] are clipped; NaN/inf, non-numbers and wrong shapes raise ``ValueError``),
    and the class named now (``C = 10``, or ``9 * num_digits + 1`` sums with ``target="sum"``;
    read only on the steps that score one).

    ## Observation Space

    ``Dict(glimpse=Box(0, 1, (k, g, g)), location=Box(-1, 1, (2,)), step=Box(0, 1, (1,)))``,
    float32: ``k`` square patches of side ``g * s**i`` around ``location``, each reduced to
    ``g x g`` (:mod:`glimpse_env.retina` has the exact geometry), the location they were taken
    at, and the steps taken so far over the episode's length ``T`` (0 after ``reset``, 1 on the
    terminal observation: the step makes the task Markov for a memoryless or frame-stacked
    policy). With ``context_size=c`` also ``context=Box(0, 1, (c, c))``: the whole canvas
    downsampled, the same at every step (DRAM's coarse view).

    ## Rewards

    1.0 for each scored label that is right, else 0.0; every other step gives 0.0.

    ## Starting State

    ``reset`` draws a canvas (keyed by the env's seed and episode counter; canvas ``i`` of the
    evaluation protocol with ``options={"evaluation_canvas": i}``, :mod:`glimpse_env.evaluation`)
    and returns the glimpse at the initial location: the centre, uniform on [-1, 1]^2 with
    ``initial_location="random"``, or, with ``initial_location="agent"``, an empty glimpse
    (zeros) at (0, 0) followed by a first step that only moves.

    ## Episode End

    After ``T = num_glimpses * num_digits`` steps (plus one with ``initial_location="agent"``)
    the episode terminates. With one digit step ``num_glimpses`` scores the label; with several
    and ``target="sequence"`` step ``j * num_glimpses`` scores digit ``j`` in reading order (left
    to right, then top to bottom); with ``target="sum"`` the last step scores their sum.
    Episodes never truncate.

    ## Info

    Privileged, for supervised and hybrid losses and evaluation, not for the policy's input:
    with one digit ``"label"`` (int) and ``"bbox"`` (its 28x28 box in canvas pixels
    ``(x_min, y_min, x_max, y_max)``, max exclusive); with several ``"labels"`` ``(D,)`` and
    ``"bboxes"`` ``(D, 4)`` in reading order, plus ``"label"`` (the sum) for ``target="sum"``.
    On the final step also ``"is_success"`` (every scored label right).

    ## Arguments

    Every field of :class:`glimpse_env.envs.task.TaskConfig` (``canvas_size``,
    ``num_distractors``, ``glimpse_size``, ``num_scales``, ``num_glimpses``, ``num_digits``,
    ``target``, ``split``, ``initial_location``, ``context_size``, ``data_dir``,
    ``dataset_path``, ...), plus ``render_mode`` (``"rgb_array"``) and ``device`` (where canvases
    and glimpses are computed; observations are numpy either way).

    >>> import gymnasium as gym
    >>> import glimpse_env
    >>> env = gym.make("ClutteredMNIST-v0", split="test")
    >>> obs, info = env.reset(seed=0)
    >>> obs["glimpse"].shape, obs["location"].tolist()
    ((3, 12, 12), [0.0, 0.0])
    >>> for step in range(6):
    ...     obs, reward, terminated, truncated, info = env.step(
    ...         {"location": [0.1, -0.2], "label": 3})
    >>> terminated, reward in (0.0, 1.0)
    (True, True)

    ## Version History

    - v0 (unreleased): the tasks of the README's table of ids; ``split="valid"`` (training digits
      50,000-59,999); the ``step`` observation; the evaluation protocol's reset options.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 2}

    def __init__(
        self,
        render_mode: str | None = None,
        device: str | torch.device = "cpu",
        source: ImageSource | str | os.PathLike | None = None,
        **task: Any,
    ) -> None:
        """``task``: any field of :class:`TaskConfig` (``canvas_size``, ``num_distractors``,
        ``glimpse_size``, ``num_scales``, ``scale_factor``, ``num_glimpses``, ``num_digits``,
        ``target``, ``split``, ``initial_location``, ``context_size``, ``data_dir``,
        ``dataset_path``); the rest keep
        TaskConfig's defaults (the registered ids pass the papers' settings). ``source``: your
        images (:class:`glimpse_env.data.sources.ImageSource` or a dataset file) instead of
        MNIST, as ``GlimpseEnv/Images-v0`` serves them (:func:`resolve_images`)."""
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None")
        images, task = resolve_images(source, task)
        self.config = task_config(**task)
        self.render_mode = render_mode
        self._episodes = GlimpseEpisodes(self.config, num_envs=1, device=device, images=images)
        self.observation_space = observation_space(self.config, self._episodes.channels)
        self.action_space = action_space(self.config)
        self._path: list[np.ndarray] = []
        self._needs_reset = True

    @property
    def canvas(self) -> np.ndarray:
        """The current canvas, ``(H, W)`` uint8 0-255, or ``(C, H, W)`` with ``C > 1``
        channels (privileged)."""
        return self._episodes.images[0].cpu().numpy()

    def _observation(self, glimpses: torch.Tensor) -> dict[str, np.ndarray]:
        location = self._episodes.locations[0].cpu().numpy()
        self._path.append(location)
        step = self._episodes.steps[:1].to(torch.float32) / self.config.episode_length
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
            key: int(value[0]) if value.ndim == 1 else value[0].cpu().numpy()
            for key, value in episode_info(self._episodes).items()
        }

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        check_reset_options(options, RESET_OPTIONS)
        super().reset(seed=seed)
        evaluation = evaluation_options(options, None)
        if evaluation is not None:  # canvas i of the evaluation protocol (glimpse_env.evaluation)
            key, index = evaluation
            self._episodes.set_keys(np.array([key], np.uint64), next_episodes=index)
        elif seed is not None or self._episodes.episodes[0] < 0:
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
        locations, labels = parse_action(action, None, self.config.num_classes)
        result = self._episodes.step(locations, labels)
        terminated = bool(result.terminated[0])
        info = self._info()
        if terminated:
            info["is_success"] = bool(self._episodes.succeeded()[0])
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


def make_images_env(
    source: ImageSource | str | os.PathLike | None = None, **kwargs: Any
) -> ClutteredMNISTEnv:
    """``gym.make("GlimpseEnv/Images-v0", source=...)``: the glimpse task on your images
    (:mod:`glimpse_env.data.sources`); ``source`` is required."""
    require_source(source)
    return ClutteredMNISTEnv(source=source, **kwargs)
