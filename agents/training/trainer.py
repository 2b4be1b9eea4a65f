"""The attention agents' trainer: RAM and DRAM (REINFORCE in the hybrid loss) and EDRAM
(supervised: classification plus the affine regression, gradients through its sensor).

One update: reset the ``batch_size`` training environments to their next canvases, compute the
family's loss on them (:data:`agents.training.objectives.OBJECTIVES`: RAM and DRAM play the
episodes with locations sampled from the policy, :func:`agents.training.rollout.rollout`; EDRAM
reads the canvases), take one Adam step.

Everything a run depends on is in its :class:`agents.training.config.TrainConfig`. The loop, the
run directory's files and ``final.json`` are every trainer's (:mod:`agents.runs`); this module
adds the update, the validation and the checkpoint. The final evaluation scores the last weights
(``checkpoint.pt``) greedily and by Monte-Carlo sampling on ``valid`` and ``test``; evaluations
during training read the ``valid`` split only.

Reproducibility: the seed fixes the model initialisation (in a forked RNG; no global state is
touched), the stream keys of the training environments and the policy-noise generator. Update
``u`` always trains on episode ``u`` of every environment's stream, so a run resumed from a
checkpoint continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from agents.evaluation import EvalResult, trajectory_grid
from agents.runs.checkpoint import load_checkpoint, save_checkpoint
from agents.runs.directory import CHECKPOINT_FILE
from agents.runs.loop import TrainingLoop, TrainResult
from agents.training.config import TrainConfig
from agents.training.objectives import OBJECTIVES, TrainingBatch
from agents.training.registry import build_agent, glimpse_shape
from agents.training.saved import lineage_valid_curve, read_weights
from agents.training.scorer import Scorer, make_env
from glimpse_env.envs.task import task_config
from glimpse_env.evaluation import check_canvas_count
from glimpse_env.keyed_random import seeded_keys

__all__ = [
    "RESUME_OVERRIDES",
    "StaircaseDecay",
    "TrainResult",
    "Trainer",
    "TrainingDiverged",
]

#: Config fields a resumed run may change: they do not alter the course of training.
RESUME_OVERRIDES = (
    "updates", "device", "num_threads", "log_every", "eval_every", "checkpoint_every",
    "eval_canvases", "final_eval_canvases", "eval_batch_size", "data_dir",
)  # fmt: skip


class StaircaseDecay:
    """LR multiplier ``max(floor, decay ** (update // every))`` (picklable, for LambdaLR)."""

    def __init__(self, decay: float, every: int, floor: float) -> None:
        self.decay, self.every, self.floor = decay, every, floor

    def __call__(self, update: int) -> float:
        return max(self.floor, self.decay ** (update // self.every))


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the run stopped before applying that update."""


class Trainer(TrainingLoop):
    """Trains one attention agent according to a :class:`TrainConfig`, in ``run_dir``.

    Args:
        config: the run's configuration.
        run_dir: where logs and checkpoints go.
        checkpoint: a loaded checkpoint to continue from (see :meth:`from_checkpoint`).
        progress: show a tqdm progress bar.
        on_evaluation: called as ``on_evaluation(update, valid_error_pct)`` after every periodic
            validation evaluation, once its checkpoints are written (a sweep reports it to its
            scheduler, :mod:`agents.sweep`).
    """

    family = "attention"

    def __init__(
        self,
        config: TrainConfig,
        run_dir: str | Path,
        checkpoint: dict[str, Any] | None = None,
        progress: bool = True,
        on_evaluation: Callable[[int, float], None] | None = None,
    ) -> None:
        super().__init__(run_dir, progress, on_evaluation)
        self.config = config
        if config.num_threads > 0:
            torch.set_num_threads(config.num_threads)
        self.device = torch.device(config.device)
        self.task = task_config(**config.task_kwargs())
        self.env = make_env(config, "train", config.batch_size)
        channels = self.env.channels
        if config.channels is None and channels > 1:  # recorded, so that loading rebuilds it
            self.config = config = dataclasses.replace(config, channels=channels)
        #: The training environments' stream keys (those of ``reset(seed=config.seed)``).
        self.train_keys = seeded_keys(config.seed, config.batch_size)
        self.glimpse_shape: tuple[int, ...] = tuple(
            self.env.single_observation_space["glimpse"].shape
        )
        self.model = build_agent(config, self.glimpse_shape).to(self.device)
        self.objective = OBJECTIVES[config.agent]
        self.scorer = Scorer(config, self.model, self.objective)
        if checkpoint is None and config.init_from:
            self._init_from(config.init_from)
        # fused: one kernel for all parameters (measured 0.6 ms against 5.9 ms per step for
        # RAM on one CPU thread); same update up to float rounding.
        fused = self.device.type in ("cpu", "cuda")
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, fused=fused)
        floor = config.min_lr / config.lr
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, StaircaseDecay(config.lr_decay, config.lr_decay_every, floor)
        )
        self.generator = torch.Generator(device=self.device).manual_seed(config.seed)
        if checkpoint is not None:
            self._restore(checkpoint)

    # ---- checkpoints -------------------------------------------------------------------
    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        progress: bool = True,
        **overrides: Any,
    ) -> Trainer:
        """Continue the run whose checkpoint is ``path``, in that checkpoint's directory.

        ``overrides`` may change fields that do not alter the run's course (``updates`` to
        extend it, ``device``, ``num_threads``, logging and evaluation settings).
        """
        unknown = sorted(set(overrides) - set(RESUME_OVERRIDES))
        if unknown:
            raise ValueError(
                f"cannot change {unknown} when resuming; allowed: {sorted(RESUME_OVERRIDES)}"
            )
        payload = load_checkpoint(path)
        config = TrainConfig.from_dict({**payload["config"], **overrides}, saved=True)
        try:
            return cls(config, Path(path).parent, checkpoint=payload, progress=progress)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None

    def _check_evaluation_sizes(self, final_evaluation: bool) -> None:
        """Refuse, before the first update, evaluations that would score a dataset file's
        canvases more than once (:func:`glimpse_env.evaluation.check_canvas_count`, naming the
        flag), so that no run fails at its first validation or after training."""
        if self.config.dataset_path is None:
            return  # generated canvases: every evaluation canvas is a new one
        config = self.config
        asked = [("valid", "--eval-canvases", config.eval_canvases)] if config.eval_every else []
        if final_evaluation:
            asked += [(split, "--final-eval-canvases", config.final_eval_canvases)
                      for split in ("valid", "test")]  # fmt: skip
        for split, flag, count in asked:
            env = self.scorer.env("greedy", split)  # the env the evaluation itself will use
            try:
                check_canvas_count(count, env.distinct_canvases, split)
            except ValueError as error:
                raise ValueError(f"{flag} {count}: {error}") from None

    def _init_from(self, path: str) -> None:
        """Start from the weights of a zoo file or checkpoint (fresh optimiser and schedule).

        The architecture must match, except the classifier's number of classes: a model moved to
        a task with other answers (digits -> the 19 sums of MNISTAddition-v0) keeps everything
        else and starts a fresh classifier, and the run log says so."""
        weights = read_weights(path)
        parent = weights.config
        architecture: tuple[str, ...] = ("agent", "hidden")
        if self.config.agent == "edram":
            architecture += ("window_size", "conv_channels", "features", "classifier_hidden")
        else:
            architecture += ("core", "glimpse_hidden", "location_hidden")
        if self.config.agent == "dram":
            architecture += ("glimpse_network", "context_layers", "dram_channels")
        changed = [  # a parent of another family lacks this family's fields: it differs
            name
            for name in architecture
            if getattr(parent, name, None) != getattr(self.config, name)
        ]
        if changed or glimpse_shape(parent) != self.glimpse_shape:
            raise ValueError(
                f"--init-from {path}: that model was built with other settings "
                f"({', '.join(changed) or 'glimpse shape'}); start from a model of the same "
                "architecture"
            )
        state = dict(weights.state)
        own = self.model.state_dict()
        head = getattr(self.model, "answer_head", "classifier")
        fresh = [
            name
            for name in (f"{head}.weight", f"{head}.bias")
            if name in state and name in own and state[name].shape != own[name].shape
        ]
        if fresh:
            for name in fresh:
                state[name] = own[name]
            classes = (weights.state[f"{head}.bias"].shape[0], own[f"{head}.bias"].shape[0])
            print(
                f"--init-from {path}: the classifier answers {classes[0]} classes, this task "
                f"{classes[1]}; it starts afresh, every other weight is loaded"
            )
        try:
            self.model.load_state_dict(state)
        except RuntimeError as error:
            raise ValueError(f"--init-from {path}: the weights do not fit: {error}") from None
        task = {**self.config.task_kwargs(), "data_dir": None}  # where MNIST lies: no matter
        same_task = {**parent.task_kwargs(), "data_dir": None} == task
        self.parent_lineage = {
            "parent": str(path),
            "parent_sha256": weights.sha256,
            **weights.lineage,
            # the parent's validation curve continues into this run's only on the same task
            "valid_curve": lineage_valid_curve(weights) if same_task else [],
        }

    def _restore(self, payload: dict[str, Any]) -> None:
        where = f"checkpoint ({payload.get('format', 'unknown format')})"
        if "train_keys" not in payload:
            raise ValueError(
                f"{where} has no 'train_keys': it was written by an older glimpse-env and cannot "
                "be resumed exactly; evaluate it with --eval or start from it with --init-from"
            )
        try:
            self.model.load_state_dict(payload["model"])
            self.optimizer.load_state_dict(payload["optimizer"])
            self.scheduler.load_state_dict(payload["scheduler"])
        except (RuntimeError, ValueError, KeyError) as error:
            first = str(error).strip().splitlines()[0]
            raise ValueError(
                f"{where}: its weights do not fit the model its own config builds ({first})"
            ) from None
        self.generator.set_state(payload["rng"]["policy_noise"].cpu())
        self.train_keys = np.asarray(payload["train_keys"], dtype=np.uint64)
        self.update = int(payload["update"])
        self.wall_clock_s = float(payload.get("wall_clock_s", 0.0))
        self.resumed_from = self.update
        self.best_valid = dict(payload.get("best_valid", self.best_valid))

    def save_checkpoint(self, path: Path | None = None) -> Path:
        """Write the full training state at the current update (atomically) to ``path``
        (default :meth:`checkpoint_path`)."""
        return save_checkpoint(
            path or self.checkpoint_path(),
            {
                "config": self.config.to_dict(),
                "update": self.update,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "rng": {"policy_noise": self.generator.get_state()},
                "train_keys": self.train_keys.tolist(),
                "wall_clock_s": self._clock(),
                "best_valid": self.best_valid,
            },
        )

    # ---- one update --------------------------------------------------------------------
    def train_step(self) -> dict[str, float]:
        """One update on the next batch of training episodes; returns its scalars."""
        config = self.config
        lr = self.optimizer.param_groups[0]["lr"]
        first = self.env.reset_to(self.train_keys, np.full(config.batch_size, self.update))
        batch = TrainingBatch(self.model, self.env, first, config, self.update, self.generator)
        total, scalars = self.objective.loss(batch)
        if not bool(torch.isfinite(total)):
            terms = ", ".join(f"{k} {v:.4g}" for k, v in scalars.items() if k.startswith("loss/"))
            last = f"{self.checkpoint_path()}" if self.checkpoint_path().exists() else "none yet"
            raise TrainingDiverged(
                f"loss is {float(total.detach())} at update {self.update} ({terms}); stopped "
                f"before applying it. Last good checkpoint: {last}. Try a lower --lr or "
                "--max-grad-norm."
            )
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        if config.max_grad_norm is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), config.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.update += 1
        return {**scalars, "train/lr": lr}

    # ---- evaluation --------------------------------------------------------------------
    def evaluate(
        self, mode: str, num_canvases: int, split: str = "valid", progress: bool = False
    ) -> EvalResult:
        """Error of the current model on ``split`` (see :class:`agents.training.scorer.Scorer`)."""
        return self.scorer.evaluate(mode, split, num_canvases, progress)

    def final_evaluation(
        self, num_canvases: int, split: str = "test"
    ) -> tuple[EvalResult, EvalResult]:
        """Greedy and Monte-Carlo errors on ``split`` (equal for a deterministic agent)."""
        return self.scorer.greedy_and_mc(split, num_canvases, progress=self.progress)

    def _trajectory_image(self, result: EvalResult) -> np.ndarray:
        assert result.examples is not None
        return trajectory_grid(
            result.examples, self.task.glimpse_size, self.task.num_scales,
            self.task.scale_factor, count=self.config.images,
        )  # fmt: skip

    # ---- what the shared loop asks for -------------------------------------------------
    @property
    def name(self) -> str:
        return self.config.preset

    def validate(self) -> tuple[EvalResult, np.ndarray | None]:
        result = self.evaluate("greedy", self.config.eval_canvases, "valid")
        return result, self._trajectory_image(result)

    def final_scores(self) -> tuple[str, list[EvalResult]]:
        """The last weights' greedy and Monte-Carlo errors on ``valid`` and ``test``."""
        canvases = self.config.final_eval_canvases
        scores = [
            *self.final_evaluation(canvases, "valid"),
            *self.final_evaluation(canvases, "test"),
        ]
        return CHECKPOINT_FILE, scores

    def final_image(self, test_greedy: EvalResult) -> np.ndarray:
        return self._trajectory_image(test_greedy)

    def final_fields(self) -> dict[str, Any]:
        config = self.config
        return {
            "agent": config.agent,
            "env_id": config.env_id,
            "env_steps": self.update * config.batch_size * self.task.episode_length,
            "eval_seed": config.eval_seed,
            "mc_samples": config.mc_samples,
        }

    def train(self, final_evaluation: bool = True) -> TrainResult:
        """:meth:`agents.runs.loop.TrainingLoop.train`; a NaN loss raises
        :class:`TrainingDiverged` and leaves the last checkpoint as it was. Evaluation sizes a
        dataset file cannot serve are refused before the first update."""
        self._check_evaluation_sizes(final_evaluation)
        return super().train(final_evaluation)
