"""The training loop of the REINFORCE-trained attention agents (RAM; DRAM reuses it).

One update: reset the ``batch_size`` training environments to their next canvases, play the
episodes with locations sampled from the policy (:func:`agents.training.rollout.rollout`), take one
Adam
step on the hybrid loss (:func:`agents.training.hybrid_loss.hybrid_loss`).

Everything a run depends on is in its :class:`agents.training.config.TrainConfig`. A run directory
holds
``config.json`` (the resolved configuration), ``checkpoint.pt`` (latest, written atomically),
``best.pt`` (lowest validation error during training), ``metrics.jsonl`` and TensorBoard events,
``lineage.json`` when warm-started (``init_from``), and ``final.json`` (valid and test errors)
once it finishes. Evaluations during training read the ``valid`` split only.

Reproducibility: the seed fixes the model initialisation (in a forked RNG; no global state is
touched), the stream keys of the training environments and the policy-noise generator. Update
``u`` always trains on episode ``u`` of every environment's stream, so a run resumed from a
checkpoint continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import signal
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from agents.models.registry import build_agent, glimpse_shape
from agents.training.checkpoint import load_checkpoint, save_checkpoint
from agents.training.config import TrainConfig
from agents.training.evaluate import EvalResult, trajectory_grid
from agents.training.objectives import OBJECTIVES, TrainingBatch
from agents.training.run_log import RunLog
from agents.training.scorer import Scorer, make_env
from glimpse_env.atomic import remove_stale_temporaries, write_json_atomic

CHECKPOINT_FILE = "checkpoint.pt"
#: The checkpoint of the lowest validation error seen during training (model selection on valid).
BEST_FILE = "best.pt"
#: Config fields a resumed run may change: they do not alter the course of training.
RESUME_OVERRIDES = (
    "updates", "device", "num_threads", "log_every", "eval_every", "checkpoint_every",
    "eval_canvases", "final_eval_canvases", "eval_batch_size", "data_dir",
)  # fmt: skip
#: Config fields ``--eval`` may set: they choose the canvases and how they are scored, not the
#: model.
EVAL_OVERRIDES = (
    "device", "num_threads", "final_eval_canvases", "eval_batch_size", "eval_seed", "mc_samples",
    "data_dir",
)  # fmt: skip
CONFIG_FILE = "config.json"
FINAL_FILE = "final.json"


class StaircaseDecay:
    """LR multiplier ``max(floor, decay ** (update // every))`` (picklable, for LambdaLR)."""

    def __init__(self, decay: float, every: int, floor: float) -> None:
        self.decay, self.every, self.floor = decay, every, floor

    def __call__(self, update: int) -> float:
        return max(self.floor, self.decay ** (update // self.every))


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the run stopped before applying that update."""


@dataclass
class TrainResult:
    """How a call to :meth:`Trainer.train` ended."""

    run_dir: Path
    update: int
    interrupted: bool
    wall_clock_s: float
    greedy: EvalResult | None = None
    mc: EvalResult | None = None


def evaluation_due(update: int, every: int, last: int) -> bool:
    """Whether a training loop evaluates on ``valid`` after ``update``: every ``every`` updates
    (0: never) and at the ``last`` one, so no stretch of training goes unscored."""
    return every > 0 and (update % every == 0 or update == last)


class StopOnSignal:
    """First Ctrl-C or ``kill`` (SIGTERM): ask the loop to checkpoint and stop after the current
    update. A second one: the usual KeyboardInterrupt."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopOnSignal:
        try:
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        except ValueError:  # not the main thread: leave the signals alone
            self._previous = {}
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        name = signal.Signals(signum).name
        tqdm.write(f"{name}: saving a checkpoint after this update (Ctrl-C again to abort).")

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)


class Trainer:
    """Trains one agent according to a :class:`TrainConfig`, in ``run_dir``.

    Args:
        config: the run's configuration.
        run_dir: where logs and checkpoints go.
        checkpoint: a loaded checkpoint to continue from (see :meth:`from_checkpoint`).
        progress: show a tqdm progress bar.
        on_evaluation: called as ``on_evaluation(update, valid_error_pct)`` after every periodic
            validation evaluation, once its checkpoints are written (a sweep reports it to its
            scheduler, :mod:`agents.sweep`).
    """

    def __init__(
        self,
        config: TrainConfig,
        run_dir: str | Path,
        checkpoint: dict[str, Any] | None = None,
        progress: bool = True,
        on_evaluation: Callable[[int, float], None] | None = None,
    ) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.progress = progress
        self.on_evaluation = on_evaluation
        if config.num_threads > 0:
            torch.set_num_threads(config.num_threads)
        self.device = torch.device(config.device)
        self.env = make_env(config, "train", config.batch_size)
        self.env.reset(seed=config.seed)
        self.train_keys = self.env.episodes.keys.copy()
        self.glimpse_shape: tuple[int, int, int] = tuple(
            self.env.single_observation_space["glimpse"].shape
        )
        self.model = build_agent(config, self.glimpse_shape).to(self.device)
        self.objective = OBJECTIVES[config.agent]
        self.scorer = Scorer(config, self.model, self.objective)
        #: History of the warm-start weights (``config.init_from``), written to lineage.json.
        self.parent_lineage: dict[str, Any] | None = None
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
        self.update = 0
        self.wall_clock_s = 0.0
        self.resumed_from: int | None = None
        #: Lowest validation error (greedy, ``eval_canvases``) seen during training, and when.
        self.best_valid: dict[str, float] = {"error_pct": float("inf"), "update": -1}
        self._clock_mark = time.perf_counter()
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
        config = TrainConfig.from_dict({**payload["config"], **overrides})
        try:
            return cls(config, Path(path).parent, checkpoint=payload, progress=progress)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None

    def _init_from(self, path: str) -> None:
        """Start from the weights of a zoo file or checkpoint (fresh optimiser and schedule).

        The architecture must match, except the classifier's number of classes: a model moved to
        a task with other answers (digits -> the 19 sums of MNISTAddition-v0) keeps everything
        else and starts a fresh classifier, and the run log says so."""
        from agents.zoo import read_weights

        weights = read_weights(path)
        parent = weights.config
        architecture = ("agent", "core", "glimpse_hidden", "location_hidden", "hidden")
        if self.config.agent == "dram":
            architecture += ("glimpse_network", "context_layers", "dram_channels")
        changed = [
            name for name in architecture if getattr(parent, name) != getattr(self.config, name)
        ]
        if changed or glimpse_shape(parent) != self.glimpse_shape:
            raise ValueError(
                f"--init-from {path}: that model was built with other settings "
                f"({', '.join(changed) or 'glimpse shape'}); start from a model of the same "
                "architecture"
            )
        state = dict(weights.state)
        own = self.model.state_dict()
        fresh = [
            name
            for name in ("classifier.weight", "classifier.bias")
            if name in state and name in own and state[name].shape != own[name].shape
        ]
        if fresh:
            for name in fresh:
                state[name] = own[name]
            classes = (weights.state["classifier.bias"].shape[0], own["classifier.bias"].shape[0])
            print(
                f"--init-from {path}: the classifier answers {classes[0]} classes, this task "
                f"{classes[1]}; it starts afresh, every other weight is loaded"
            )
        try:
            self.model.load_state_dict(state)
        except RuntimeError as error:
            raise ValueError(f"--init-from {path}: the weights do not fit: {error}") from None
        self.parent_lineage = {
            "parent": str(path),
            "parent_sha256": weights.sha256,
            **weights.lineage,
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

    def checkpoint_path(self) -> Path:
        return self.run_dir / CHECKPOINT_FILE

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
        task = self.env.episodes.config
        assert result.examples is not None
        return trajectory_grid(
            result.examples, task.glimpse_size, task.num_scales, task.scale_factor,
            count=self.config.images,
        )  # fmt: skip

    # ---- the loop ----------------------------------------------------------------------
    def train(self, final_evaluation: bool = True) -> TrainResult:
        """Train to ``config.updates`` (evaluating on ``valid`` every ``eval_every`` updates and
        at the last one), then evaluate on ``valid`` and ``test`` (unless ``final_evaluation``
        is False: a sweep's trials decide on their periodic ``valid`` errors and never read
        ``test``).

        Ctrl-C stops after the current update with a checkpoint (``interrupted=True``); a NaN
        loss raises :class:`TrainingDiverged` and leaves the last checkpoint as it was.
        """
        config = self.config
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for stale in remove_stale_temporaries(self.run_dir):  # left by a killed write
            tqdm.write(f"removed {stale.name}, an unfinished write of an earlier process")
        write_json_atomic(self.run_dir / CONFIG_FILE, config.to_dict())
        if self.parent_lineage is not None:
            from agents.zoo import LINEAGE_FILE

            write_json_atomic(self.run_dir / LINEAGE_FILE, self.parent_lineage)
        log = RunLog(self.run_dir, resume_update=self.resumed_from)
        window: dict[str, list[float]] = defaultdict(list)
        running_accuracy: float | None = None
        interrupted = False
        bar = tqdm(
            total=config.updates,
            initial=self.update,
            unit="upd",
            desc=config.preset,
            disable=not self.progress,
            dynamic_ncols=True,
        )
        self._clock_mark = window_start = time.perf_counter()
        window_update = self.update
        try:
            with StopOnSignal() as stop:
                while self.update < config.updates:
                    scalars = self.train_step()
                    for tag, value in scalars.items():
                        window[tag].append(value)
                    accuracy = scalars["train/accuracy"]
                    running_accuracy = (
                        accuracy
                        if running_accuracy is None
                        else 0.98 * running_accuracy + 0.02 * accuracy
                    )
                    bar.update(1)
                    if self.update % config.log_every == 0 or self.update == config.updates:
                        now = time.perf_counter()
                        rate = (self.update - window_update) / max(now - window_start, 1e-9)
                        means = {tag: float(np.mean(v)) for tag, v in window.items()}
                        means["perf/updates_per_s"] = rate
                        means["perf/samples_per_s"] = rate * config.batch_size
                        log.scalars(self.update, means)
                        window.clear()
                        window_start, window_update = now, self.update
                        bar.set_postfix(
                            acc=f"{running_accuracy:.3f}", lr=f"{scalars['train/lr']:.1e}"
                        )
                    evaluated = None
                    if evaluation_due(self.update, config.eval_every, config.updates):
                        result = self.evaluate("greedy", config.eval_canvases, "valid")
                        evaluated = result.error_pct
                        log.scalars(
                            self.update,
                            {
                                "valid/error_greedy": result.error_pct,
                                "time/wall_clock_s": self._clock(),
                            },
                        )
                        log.image("valid/trajectories", self._trajectory_image(result), self.update)
                        bar.write(f"update {self.update}: {result}")
                        if result.error_pct < self.best_valid["error_pct"]:
                            self.best_valid = {
                                "error_pct": result.error_pct,
                                "update": self.update,
                            }
                            self.save_checkpoint(self.run_dir / BEST_FILE)
                    if self.update % config.checkpoint_every == 0:
                        self.save_checkpoint()
                    if evaluated is not None and self.on_evaluation is not None:
                        self.on_evaluation(self.update, evaluated)
                    if stop.requested:
                        interrupted = True
                        break
        finally:
            bar.close()
        path = self.save_checkpoint()
        if interrupted or not final_evaluation:
            if interrupted:
                tqdm.write(f"Saved {path} at update {self.update}; continue with --resume {path}")
            log.close()
            return TrainResult(self.run_dir, self.update, interrupted, self._clock())
        valid_greedy, valid_mc = self.final_evaluation(config.final_eval_canvases, "valid")
        greedy, mc = self.final_evaluation(config.final_eval_canvases, "test")
        self._clock()
        final = {
            "valid/error_greedy_final": valid_greedy.error_pct,
            "valid/error_mc_final": valid_mc.error_pct,
            "test/error_greedy": greedy.error_pct,
            "test/error_mc": mc.error_pct,
        }
        log.scalars(self.update, final)
        log.image("test/trajectories", self._trajectory_image(greedy), self.update)
        log.hparams(
            config.to_dict(),
            {
                "hparam/valid_error_greedy": valid_greedy.error_pct,
                "hparam/valid_error_mc": valid_mc.error_pct,
                "hparam/test_error_greedy": greedy.error_pct,
                "hparam/test_error_mc": mc.error_pct,
            },
        )
        log.close()
        summary = {
            "preset": config.preset,
            "updates": self.update,
            "wall_clock_s": round(self.wall_clock_s, 1),
            "valid_error_greedy": valid_greedy.error_pct,
            "valid_errors_greedy": valid_greedy.errors,
            "valid_error_mc": valid_mc.error_pct,
            "valid_errors_mc": valid_mc.errors,
            "test_error_greedy": greedy.error_pct,
            "test_errors_greedy": greedy.errors,
            "test_error_mc": mc.error_pct,
            "test_errors_mc": mc.errors,
            "test_canvases": greedy.total,
            "mc_samples": config.mc_samples,
            "eval_seed": config.eval_seed,
        }
        write_json_atomic(self.run_dir / FINAL_FILE, summary)
        return TrainResult(self.run_dir, self.update, False, self.wall_clock_s, greedy, mc)

    def _clock(self) -> float:
        """Add the time since the last call to ``wall_clock_s`` and return it."""
        now = time.perf_counter()
        self.wall_clock_s += now - self._clock_mark
        self._clock_mark = now
        return self.wall_clock_s


def evaluate_checkpoint(
    path: str | Path,
    device: str | None = None,
    num_canvases: int | None = None,
    split: str = "test",
    **config_changes: Any,
) -> tuple[EvalResult, EvalResult]:
    """Greedy and Monte-Carlo errors of a saved model (a checkpoint or a zoo file) on ``split``.

    ``config_changes`` may set the evaluation fields (``eval_seed``, ``mc_samples``,
    ``eval_batch_size``, ``num_threads``, ``data_dir``); see :data:`EVAL_OVERRIDES`.
    """
    from agents.zoo import load

    unknown = sorted(set(config_changes) - set(EVAL_OVERRIDES))
    if unknown:
        raise ValueError(
            f"cannot change {unknown} when evaluating; allowed: {list(EVAL_OVERRIDES)}"
        )
    if num_canvases is not None:
        config_changes["final_eval_canvases"] = num_canvases
    if config_changes.get("num_threads"):
        torch.set_num_threads(config_changes["num_threads"])
    agent = load(path, device=device or "cpu", **config_changes)
    return agent.evaluate(split)
