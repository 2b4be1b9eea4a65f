"""Scoring one model on the fixed evaluation canvases of the ``valid`` and ``test`` splits.

Used by the trainer (``valid`` during training, both splits at the end), by ``--eval`` and by the
model zoo, so that every figure comes from the same code path and the same canvases
(:func:`agents.evaluation.evaluate`).
"""

from __future__ import annotations

from torch import nn

from agents.evaluation import EVAL_SPLITS, EvalResult, evaluate
from agents.training.config import TrainConfig
from agents.training.objectives import Objective
from glimpse_env.envs.vector import GlimpseVectorEnv


def make_env(config: TrainConfig, split: str, num_envs: int) -> GlimpseVectorEnv:
    """A native vector env of the config's task on its device, with torch output."""
    return GlimpseVectorEnv(
        num_envs, output="torch", device=config.device, split=split, **config.task_kwargs()
    )


class Scorer:
    """Greedy and Monte-Carlo error of ``model`` on a split's fixed canvases.

    Args:
        config: the model's configuration (task, ``eval_seed``, ``mc_samples``,
            ``eval_batch_size``, ``device``).
        model: the agent, on ``config.device``.
        objective: how the agent answers (:data:`agents.training.objectives.OBJECTIVES`).
    """

    def __init__(self, config: TrainConfig, model: nn.Module, objective: Objective) -> None:
        self.config, self.model, self.objective = config, model, objective
        self._envs: dict[tuple[str, str], GlimpseVectorEnv] = {}

    def env(self, mode: str, split: str) -> GlimpseVectorEnv:
        """The evaluation env of ``(mode, split)`` (made once, reused)."""
        if split not in EVAL_SPLITS:
            raise ValueError(f"evaluation split must be one of {EVAL_SPLITS}, got {split!r}")
        if (mode, split) not in self._envs:
            size = self.config.eval_batch_size
            if mode == "mc":
                size = max(1, size // self.config.mc_samples) * self.config.mc_samples
            self._envs[mode, split] = make_env(self.config, split, size)
        return self._envs[mode, split]

    def evaluate(
        self, mode: str, split: str, num_canvases: int, progress: bool = False
    ) -> EvalResult:
        """Error of the current weights on canvases ``0 .. num_canvases-1`` of ``split``."""
        return evaluate(
            self.model,
            self.env(mode, split),
            self.objective.player(self.model, self.config),
            num_canvases,
            mode=mode,
            mc_samples=self.config.mc_samples,
            eval_seed=self.config.eval_seed,
            progress=progress,
        )

    def greedy_and_mc(
        self, split: str, num_canvases: int, progress: bool = False
    ) -> tuple[EvalResult, EvalResult]:
        """Greedy and Monte-Carlo errors on ``split``. For a deterministic agent (EDRAM) the
        average of M identical paths is the greedy answer, so Monte-Carlo equals greedy."""
        greedy = self.evaluate("greedy", split, num_canvases, progress)
        if self.objective.stochastic:
            return greedy, self.evaluate("mc", split, num_canvases, progress)
        mc = EvalResult("mc", greedy.errors, greedy.total, greedy.examples, split)
        return greedy, mc
