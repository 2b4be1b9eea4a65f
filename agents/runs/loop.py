"""The training loop every trainer that owns its updates shares (attention agents, supervised).

:class:`TrainingLoop` runs the skeleton: the run directory, ``RunLog`` (TensorBoard and
``metrics.jsonl``), the tqdm bar, Ctrl-C / SIGTERM handling, periodic evaluations on ``valid``
with ``best.pt``, checkpoints, the clock, and ``final.json`` (:mod:`agents.runs.final`). A family
supplies one update (:meth:`TrainingLoop.train_step`), its validation
(:meth:`TrainingLoop.validate`), its checkpoint (:meth:`TrainingLoop.save_checkpoint`) and its
final scores (:meth:`TrainingLoop.final_scores`). The SB3 baselines run SB3's own ``learn`` loop
and use the same pieces from a callback (:mod:`agents.sb3.baselines`).
"""

from __future__ import annotations

import math
import signal
import time
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, ClassVar

import numpy as np
from tqdm.auto import tqdm

from agents.evaluation import EvalResult
from agents.runs.directory import BEST_FILE, CHECKPOINT_FILE, RUN_LOCK, prepare
from agents.runs.final import FinalResult, best_valid_record, write_final
from agents.runs.log import EVAL_KEY, RunLog
from glimpse_env.atomic import exclusive_lock


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


@dataclass
class TrainResult:
    """How a call to :meth:`TrainingLoop.train` ended: ``final`` (``final.json``) and
    ``scores`` (the end-of-run evaluations, one per split and mode) are empty unless it was
    scored."""

    run_dir: Path
    update: int
    interrupted: bool
    wall_clock_s: float
    final: FinalResult | None = None
    scores: list[EvalResult] = field(default_factory=list)

    def score(self, split: str, mc: bool = False) -> EvalResult | None:
        """The final evaluation of ``split``: Monte-Carlo (``mc``) or greedy / deterministic."""
        return next((r for r in self.scores if r.split == split and (r.mode == "mc") == mc), None)

    @property
    def greedy(self) -> EvalResult | None:
        """The greedy (or deterministic) error on ``test``."""
        return self.score("test")

    @property
    def mc(self) -> EvalResult | None:
        """The Monte-Carlo error on ``test`` (None for a family scored greedily only)."""
        return self.score("test", mc=True)


class TrainingLoop(ABC):
    """Base class of a trainer: the loop of :meth:`train` around a family's update.

    Subclasses set ``config`` (a dataclass with ``updates``, ``log_every``, ``eval_every``,
    ``checkpoint_every`` and ``to_dict()``) and implement the abstract methods.

    Args:
        run_dir: where the run's files go.
        progress: show a tqdm progress bar.
        on_evaluation: called as ``on_evaluation(update, valid_error_pct)`` after every periodic
            validation evaluation, once its checkpoints are written (a sweep reports it to its
            scheduler, :mod:`agents.sweep`).
    """

    #: ``"attention"`` or ``"supervised"`` (:data:`agents.runs.final.FAMILIES`).
    family: ClassVar[str]
    config: Any

    def __init__(
        self,
        run_dir: str | Path,
        progress: bool = True,
        on_evaluation: Callable[[int, float], None] | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.progress = progress
        self.on_evaluation = on_evaluation
        self.update = 0
        self.wall_clock_s = 0.0
        self.resumed_from: int | None = None
        #: Lowest periodic validation error seen during training, and its update.
        self.best_valid: dict[str, Any] = {"error_pct": math.inf, "update": -1}
        #: History of warm-start weights, written to ``lineage.json`` (None: trained from scratch).
        self.parent_lineage: dict[str, Any] | None = None
        self._clock_mark = time.perf_counter()

    # ---- what a family supplies ------------------------------------------------------------
    @property
    @abstractmethod
    def name(self) -> str:
        """The run's name (its preset): the progress bar's label and ``final.json``'s."""

    @abstractmethod
    def train_step(self) -> dict[str, float]:
        """One update; returns its scalars (``train/accuracy`` and ``train/lr`` at least)."""

    @abstractmethod
    def validate(self) -> tuple[EvalResult, np.ndarray | None]:
        """The periodic evaluation on ``valid`` (``config.eval_canvases``, greedy) and an
        optional picture of its glimpse paths."""

    @abstractmethod
    def save_checkpoint(self, path: Path | None = None) -> Path:
        """Write the training state (atomically) to ``path`` (default :meth:`checkpoint_path`)."""

    @abstractmethod
    def final_scores(self) -> tuple[str, list[EvalResult]]:
        """The end-of-run evaluation: the weights file scored (``checkpoint.pt`` or
        ``best.pt``) and its results on ``valid`` and ``test``, greedy (or deterministic) and,
        for a stochastic policy, Monte-Carlo."""

    @abstractmethod
    def final_fields(self) -> dict[str, Any]:
        """``final.json``'s ``agent``, ``env_id``, ``env_steps``, ``eval_seed`` (and
        ``mc_samples``, ``extra``)."""

    def final_image(self, test_greedy: EvalResult) -> np.ndarray | None:
        """An ``(H, W, 3)`` uint8 picture of the final test glimpse paths for TensorBoard, or
        None (the default: a family without paths to draw)."""
        return None

    # ---- shared ------------------------------------------------------------------------------
    def checkpoint_path(self) -> Path:
        return self.run_dir / CHECKPOINT_FILE

    def _clock(self) -> float:
        """Add the time since the last call to ``wall_clock_s`` and return it."""
        now = time.perf_counter()
        self.wall_clock_s += now - self._clock_mark
        self._clock_mark = now
        return self.wall_clock_s

    def train(self, final_evaluation: bool = True) -> TrainResult:
        """Train to ``config.updates`` (evaluating on ``valid`` every ``eval_every`` updates and
        at the last one), then score on ``valid`` and ``test`` and write ``final.json`` (unless
        ``final_evaluation`` is False: a sweep's trials decide on their periodic ``valid``
        errors and never read ``test``).

        Ctrl-C stops after the current update with a checkpoint (``interrupted=True``).
        """
        config = self.config
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # One trainer per run directory, whoever starts it (a command line, a sweep, a script).
        with exclusive_lock(self.run_dir / RUN_LOCK, f"training in {self.run_dir}"):
            for stale in prepare(self.run_dir, config.to_dict(), self.parent_lineage):
                tqdm.write(f"removed {stale.name}, an unfinished write of an earlier process")
            log = RunLog(self.run_dir, resume_update=self.resumed_from)
            try:
                return self._train(log, final_evaluation)
            finally:  # also on divergence or a failed final evaluation: the events are flushed
                log.close()

    def _train(self, log: RunLog, final_evaluation: bool) -> TrainResult:
        """The body of :meth:`train`, logging to ``log`` (closed by the caller)."""
        config = self.config
        window: dict[str, list[float]] = defaultdict(list)
        running_accuracy: float | None = None
        interrupted = False
        bar = tqdm(
            total=config.updates,
            initial=self.update,
            unit="upd",
            desc=self.name,
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
                        result, image = self.validate()
                        evaluated = result.error_pct
                        log.scalars(
                            self.update,
                            {EVAL_KEY: result.error_pct, "time/wall_clock_s": self._clock()},
                        )
                        if image is not None:
                            log.image("valid/trajectories", image, self.update)
                        bar.write(f"update {self.update}: {result}")
                        if result.error_pct < self.best_valid["error_pct"]:
                            self.best_valid = {"error_pct": result.error_pct, "update": self.update}
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
                tqdm.write(
                    f"Saved {path} at update {self.update}; continue with --resume {self.run_dir}"
                )
            log.close()
            return TrainResult(self.run_dir, self.update, interrupted, self._clock())
        if not (self.run_dir / BEST_FILE).is_file():  # no periodic evaluation (eval_every 0)
            self.save_checkpoint(self.run_dir / BEST_FILE)
        weights, scores = self.final_scores()
        final = self._finish(log, weights, scores)
        return TrainResult(self.run_dir, self.update, False, self.wall_clock_s, final, scores)

    def _finish(self, log: RunLog, weights: str, scores: list[EvalResult]) -> FinalResult:
        """Log the final ``scores`` of ``weights`` and write ``final.json``."""
        self._clock()
        done = TrainResult(self.run_dir, self.update, False, self.wall_clock_s, None, scores)
        valid_greedy, test_greedy = done.score("valid"), done.score("test")
        valid_mc, test_mc = done.score("valid", mc=True), done.score("test", mc=True)
        if valid_greedy is None or test_greedy is None:
            raise ValueError("a family's final scores must include greedy valid and test")
        values = {
            "valid/error_greedy_final": valid_greedy.error_pct,
            "test/error_greedy": test_greedy.error_pct,
        }
        metrics = {
            "hparam/valid_error_greedy": valid_greedy.error_pct,
            "hparam/test_error_greedy": test_greedy.error_pct,
        }
        if valid_mc is not None and test_mc is not None:
            values["valid/error_mc_final"] = valid_mc.error_pct
            values["test/error_mc"] = test_mc.error_pct
            metrics["hparam/valid_error_mc"] = valid_mc.error_pct
            metrics["hparam/test_error_mc"] = test_mc.error_pct
        log.scalars(self.update, values)
        image = self.final_image(test_greedy)
        if image is not None:
            log.image("test/trajectories", image, self.update)
        log.hparams(self.config.to_dict(), metrics)
        log.close()
        final = FinalResult.from_scores(
            valid_greedy=valid_greedy,
            test_greedy=test_greedy,
            valid_mc=valid_mc,
            test_mc=test_mc,
            family=self.family,
            name=self.name,
            progress=self.update,
            wall_clock_s=round(self.wall_clock_s, 1),
            interrupted=False,
            weights=weights,
            best_valid=best_valid_record(self.best_valid),
            **self.final_fields(),
        )
        write_final(self.run_dir, final)
        return final
