"""The model zoo: trained weights in ``models/<name>.safetensors``, each with its card
``<name>.json``; :func:`load` gives a ready agent by name or path.

The file formats (zoo files and training checkpoints, their lineage) are
:mod:`agents.training.saved`'s; this module resolves names, finds the models directory and wraps
the weights in a :class:`ZooAgent`. Publishing is :mod:`agents.zoo_card`'s.

Usage::

    from agents import zoo
    agent = zoo.load("ram-cluttered60-6g")      # or a path to any zoo file or checkpoint.pt
    greedy, mc = agent.evaluate("test", num_canvases=10_000)
    print(greedy, mc, sep="\\n")
    paths = agent.trajectories(8)                # the greedy glimpse paths of 8 test canvases
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from agents.canvas_policy import CanvasPolicy
from agents.evaluation import EvalResult, Trajectories
from agents.policy import AttentionPolicy
from agents.training.config import TASK_FIELDS, TrainConfig, check_eval_overrides
from agents.training.objectives import OBJECTIVES
from agents.training.registry import build_agent, glimpse_shape, state_shapes
from agents.training.saved import (
    FORMAT,
    LEGACY_FORMAT,
    LEGACY_SUFFIX,
    STORED_DTYPE,
    SUFFIX,
    Weights,
    card_path,
    lineage_valid_curve,
    read_card,
    read_weights,
    run_lineage,
    run_valid_curve,
    save_zoo_model,
)
from agents.training.scorer import Scorer
from glimpse_env.envs.task import TaskConfig, check_device, task_config

__all__ = [
    "FORMAT", "LEGACY_FORMAT", "LEGACY_SUFFIX", "MODELS_ENV_VAR", "STORED_DTYPE", "SUFFIX",
    "Weights", "ZooAgent", "available", "card_path", "check_name", "evaluate_checkpoint",
    "lineage_valid_curve", "load", "models_dir", "read_card", "read_weights", "resolve",
    "run_lineage", "run_valid_curve", "save_zoo_model",
]  # fmt: skip

#: Environment variable naming another zoo directory.
MODELS_ENV_VAR = "GLIMPSE_ENV_MODELS"


def models_dir() -> Path:
    """Where zoo names are looked up: ``$GLIMPSE_ENV_MODELS``; else, in a checkout, its
    ``models/``; else the zoo installed with the package (``agents.zoo_files``, the same files
    shipped as package data by ``setup.py``)."""
    value = os.environ.get(MODELS_ENV_VAR)
    if value:
        return Path(value)
    root = Path(__file__).resolve().parents[1]
    if (root / "pyproject.toml").is_file() and (root / "models").is_dir():
        return root / "models"
    spec = importlib.util.find_spec("agents.zoo_files")  # a namespace package: a directory
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return root / "models"


_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


def check_name(name: str) -> None:
    """A zoo name is a file name stem: lower-case letters, digits, ``.``, ``_``, ``-``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise ValueError(
            f"zoo name {name!r} must be lower-case letters, digits, '.', '_' and '-' (no "
            "directories), e.g. ram-cluttered60-6g"
        )


def resolve(name_or_path: str | os.PathLike) -> Path:
    """The file of a zoo name (``"ram-cluttered60-6g"``: ``models/<name>.safetensors``, else
    the first format's ``models/<name>.pt``) or an existing path."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    is_name = isinstance(name_or_path, str) and _NAME.fullmatch(name_or_path) is not None
    if not is_name or path.suffix in (SUFFIX, LEGACY_SUFFIX):  # a path ("." may be in a name)
        raise FileNotFoundError(f"no model file at {path}")
    for suffix in (SUFFIX, LEGACY_SUFFIX):
        candidate = models_dir() / f"{name_or_path}{suffix}"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"no zoo model named {str(name_or_path)!r} in {models_dir()}; available: {available()}"
    )


def available() -> list[str]:
    """The names of the zoo models in :func:`models_dir`."""
    files = [*models_dir().glob(f"*{SUFFIX}"), *models_dir().glob(f"*{LEGACY_SUFFIX}")]
    return sorted({p.stem for p in files})


@dataclass
class ZooAgent:
    """A trained agent ready for evaluation (in eval mode, on ``config.device``).

    Attributes:
        model: the network (:class:`agents.models.ram.RAM`, :class:`agents.models.dram.DRAM`, ...).
        config: its configuration; evaluation settings may be changed with :meth:`evaluate`'s
            arguments.
        weights: the file's weights, sha256 and lineage.
        card: the model card (empty when loading a file that has none, e.g. a checkpoint).
    """

    model: nn.Module
    config: TrainConfig
    weights: Weights
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def observes_canvas(self) -> bool:
        """EDRAM reads the whole canvas: its env must add ``canvas`` to the observation
        (:class:`glimpse_env.envs.wrappers.CanvasObservation`)."""
        return self.config.agent == "edram"

    def predict(
        self,
        observation: dict[str, Any],
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[dict[str, Any], Any]:
        """The env action for ``observation`` and the new recurrent state, with SB3's meaning
        (:meth:`agents.policy.AttentionPolicy.predict`): a single env's or a vector env's
        observation, numpy or torch; ``deterministic`` follows the policy's mean (greedy).
        EDRAM plays through :class:`agents.canvas_policy.CanvasPolicy` (its observation needs
        ``canvas``)."""
        return self._policy.predict(observation, state, episode_start, deterministic)

    @functools.cached_property
    def _policy(self) -> Any:
        """The model's policy (made on first use)."""
        task = task_config(**self.config.task_kwargs())
        if self.config.agent == "edram":

            def answer(canvases: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                output = self.model(canvases)
                return output.logits[:, -1].argmax(-1)[:, None], output.thetas[:, :, [2, 5]]

            return CanvasPolicy(answer, task, self.config.device)
        return AttentionPolicy(self.model, task, self.config.location_std)

    @property
    def task(self) -> TaskConfig:
        """The task the agent plays: canvas, glimpse size and scales, number of glimpses, ..."""
        return task_config(**self.config.task_kwargs())

    def _scorer(self, task: dict[str, Any] | None = None, **changes: float | None) -> Scorer:
        """A scorer of the model with evaluation fields of the config changed (None: kept), on
        its own task or on ``task``: other values of task fields (see :meth:`evaluate`)."""
        changed = {k: v for k, v in changes.items() if v is not None}
        if task:
            unknown = sorted(set(task) - set(TASK_FIELDS))
            if unknown:
                raise ValueError(
                    f"task= takes task fields only ({list(TASK_FIELDS)}), got {unknown}"
                )
            changed.update(task)
        config = TrainConfig.from_dict({**self.config.to_dict(), **changed})
        if task and (
            glimpse_shape(config) != glimpse_shape(self.config)
            or config.task_kwargs().get("context_size")
            != self.config.task_kwargs().get("context_size")
        ):
            raise ValueError(
                f"task={task} changes what the model observes (glimpse {glimpse_shape(config)} "
                f"for {glimpse_shape(self.config)}, or the context view): it cannot play it"
            )
        return Scorer(config, self.model, OBJECTIVES[config.agent])

    def evaluate(
        self,
        split: str = "test",
        num_canvases: int | None = None,
        eval_seed: int | None = None,
        mc_samples: int | None = None,
        progress: bool = False,
        location_std: float | None = None,
        task: dict[str, Any] | None = None,
    ) -> tuple[EvalResult, EvalResult]:
        """Greedy and Monte-Carlo error on canvases ``0 .. num_canvases-1`` of ``split``
        (default: the config's ``final_eval_canvases``, ``eval_seed``, ``mc_samples`` and
        ``location_std``, the spread of the sampled paths in normalised units), as the
        trainer's final evaluation and the model card score them. Unpacks as ``greedy, mc``.

        ``task``: score on another task than the model's, e.g. ``{"num_distractors": 4}`` (a
        published figure's own task, for a like-for-like comparison): task fields only, and
        none that changes what the model observes (glimpse size, scales, context view)."""
        scorer = self._scorer(
            task=task,
            final_eval_canvases=num_canvases,
            eval_seed=eval_seed,
            mc_samples=mc_samples,
            location_std=location_std,
        )
        return scorer.greedy_and_mc(split, scorer.config.final_eval_canvases, progress)

    def trajectories(self, num_canvases: int = 8, split: str = "test") -> Trajectories:
        """The greedy policy's glimpse paths on canvases ``0 .. num_canvases-1`` of ``split``
        (the evaluation's fixed canvases): canvases, locations ``(n, T, 2)`` in normalised
        coordinates, labels, answers and, for EDRAM, its affine windows. For pictures
        (``examples/render_agent.py``)."""
        if num_canvases < 1:
            raise ValueError(f"num_canvases must be at least 1, got {num_canvases}")
        scorer = self._scorer(eval_batch_size=num_canvases)
        examples = scorer.evaluate("greedy", split, num_canvases).examples
        assert examples is not None  # the first evaluation batch always keeps its paths
        return examples


def load(name_or_path: str | os.PathLike, device: str = "cpu", **config_changes: Any) -> ZooAgent:
    """Load a zoo model by name (``models/<name>.safetensors``) or any zoo file / checkpoint by
    path. The model is float32 whatever the file stores.

    ``config_changes`` may set evaluation fields only
    (:data:`agents.training.config.EVAL_OVERRIDES`: ``eval_batch_size``, ``data_dir``, ...);
    anything else raises ``ValueError`` before a file is read. The weights are verified against
    the sha256 in the file and in its card.
    """
    check_device(device)  # before reading anything: one clear error for cuda without CUDA
    check_eval_overrides(config_changes)
    path = resolve(name_or_path)
    weights = read_weights(path)
    config = TrainConfig.from_dict({**weights.config.to_dict(), **config_changes, "device": device})
    expected = state_shapes(config, glimpse_shape(config))
    stored = {name: tuple(value.shape) for name, value in weights.state.items()}
    if stored != expected:
        differ = sorted(
            n for n in expected.keys() | stored.keys() if expected.get(n) != stored.get(n)
        )
        raise ValueError(
            f"{path}: its tensors do not fit the model its config describes (first: "
            f"{differ[0]} is {stored.get(differ[0])} in the file, {expected.get(differ[0])} "
            f"for the config; {len(differ)} differ); the file is damaged or crafted"
        )
    model = build_agent(config, glimpse_shape(config))
    try:
        model.load_state_dict(weights.state)
    except RuntimeError as error:
        raise ValueError(
            f"{path}: the weights do not fit the model its config builds: {error}"
        ) from None
    model.to(device).eval()
    return ZooAgent(model, config, weights, weights.card)


def evaluate_checkpoint(
    path: str | Path,
    device: str | None = None,
    num_canvases: int | None = None,
    split: str = "test",
    **config_changes: Any,
) -> tuple[EvalResult, EvalResult]:
    """Greedy and Monte-Carlo errors of a saved model (a checkpoint or a zoo file) on ``split``.

    ``config_changes`` may set the evaluation fields (``eval_seed``, ``mc_samples``,
    ``eval_batch_size``, ``num_threads``, ``data_dir``); see
    :data:`agents.training.config.EVAL_OVERRIDES`.
    """
    if num_canvases is not None:
        config_changes["final_eval_canvases"] = num_canvases
    if config_changes.get("num_threads"):
        torch.set_num_threads(config_changes["num_threads"])
    agent = load(path, device=device or "cpu", **config_changes)
    return agent.evaluate(split)
