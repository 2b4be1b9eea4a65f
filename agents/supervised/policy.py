"""A supervised baseline (FC or CNN) as a policy of the env: :class:`SupervisedPolicy`.

It classifies the whole canvas, so it plays an env that adds ``obs["canvas"]``
(:class:`glimpse_env.envs.wrappers.CanvasObservation`); see :mod:`agents.canvas_policy`.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from agents.canvas_policy import CanvasPolicy
from agents.evaluation import EvalResult
from agents.supervised.data import Canvases, canvas_inputs
from agents.supervised.trainer import LoadedBaseline, load_model, score


class SupervisedPolicy(CanvasPolicy):
    """``predict`` (:class:`agents.canvas_policy.CanvasPolicy`), ``evaluate``, ``config`` and
    ``card`` of a trained supervised baseline (made by :meth:`load`)."""

    def __init__(self, loaded: LoadedBaseline, device: torch.device | str = "cpu") -> None:
        self.loaded = loaded
        self.model = loaded.model
        super().__init__(self._answer, loaded.config.task("test"), device)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "cpu", **changes: Any) -> SupervisedPolicy:
        """The baseline of checkpoint ``path`` (``changes``: evaluation fields, as
        :func:`agents.supervised.trainer.load_model`)."""
        return cls(load_model(path, device, **changes), device)

    @property
    def config(self) -> Any:
        """The run's :class:`agents.supervised.config.SupervisedConfig`."""
        return self.loaded.config

    @property
    def card(self) -> dict[str, Any]:
        """Empty: a checkpoint carries no card (``--card`` writes one)."""
        return {}

    def _answer(self, canvases: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.model(canvas_inputs(canvases)).argmax(-1), None

    def evaluate(self, split: str = "test", num_canvases: int | None = None) -> EvalResult:
        """Error on canvases ``0 .. n-1`` of ``split`` (default: the config's
        ``final_eval_canvases``), as the trainer's final evaluation scores it."""
        config = self.config
        canvases = Canvases(config.task(split), self.device)
        count = num_canvases or config.final_eval_canvases
        return score(self.model, canvases, count, config.eval_batch_size, config.eval_seed)
