"""Stable-Baselines3 baselines on the glimpse task: RecurrentPPO and frame-stacked PPO.

Both step :class:`agents.sb3.vec_env.GlimpseSB3VecEnv` (the native vector env with grid actions)
and are scored exactly like the attention agents: on the fixed canvases of
:mod:`agents.evaluation`
(episodes ``0 .. n-1`` of the stream keyed by ``eval_seed``), acting deterministically: on the
``valid`` split during training and for tuning, on ``valid`` and ``test`` at the end.

Saved models are read back safely: :func:`load_model` builds the algorithm from the run's
``config.json`` and loads only the parameter files of ``model.zip`` (``weights_only=True``),
never SB3's ``load`` (whose ``data`` entry is cloudpickle and runs code).

- ``recurrent-ppo``: ``sb3_contrib.RecurrentPPO`` with ``MultiInputLstmPolicy``; memory is the LSTM.
- ``ppo``: ``stable_baselines3.PPO`` with ``MultiInputPolicy`` over the last ``frame_stack``
  observations (``VecFrameStack``: glimpses stacked on the channel axis, locations
  concatenated); no memory beyond the stack.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Image

from agents.runs.directory import RUN_LOCK, prepare
from agents.runs.final import FinalResult, best_valid_record, write_final
from agents.runs.log import EVAL_KEY, RunLog
from agents.runs.loop import StopOnSignal, TrainResult
from agents.sb3.algorithms import make_model, make_vec_env
from agents.sb3.config import BaselineConfig
from agents.sb3.evaluation import evaluate_baseline, save_trajectories_png, trajectory_image
from agents.sb3.files import BEST, LATEST, load_model, read_checkpoint_state, save_checkpoint
from glimpse_env.atomic import exclusive_lock
from glimpse_env.envs import task_name


class ValidAccuracyAndCheckpoints(BaseCallback):
    """The shared run loop's duties (:mod:`agents.runs.loop`) inside SB3's ``learn``.

    Every ``eval_every`` steps: validation error into SB3's logger (TensorBoard ``valid/*``)
    and into ``run_dir/metrics.jsonl`` under :data:`agents.runs.log.EVAL_KEY` at the run's env
    steps, with ``time/wall_clock_s`` (seconds since training started); a new lowest error
    saves ``best.zip``. Every ``checkpoint_every`` steps: a checkpoint (:func:`save_checkpoint`).
    A first Ctrl-C or SIGTERM (``stop``) ends ``learn`` after the current step.

    Args:
        log: the run's :class:`agents.runs.log.RunLog` (``metrics.jsonl``; SB3 writes the events).
        stop: the :class:`agents.runs.loop.StopOnSignal` around ``learn``.
        clock_offset_s: seconds already spent before this call of ``learn`` (a resumed run).
        best_valid: ``{"error_pct", "update"}`` of the lowest error so far (a resumed run's).
        on_evaluation: called as ``on_evaluation(timesteps, valid_error_pct)`` after each
            validation evaluation (a sweep's report to its scheduler).
    """

    def __init__(
        self,
        config: BaselineConfig,
        run_dir: Path,
        eval_canvases: int,
        log: RunLog,
        stop: StopOnSignal,
        clock_offset_s: float = 0.0,
        best_valid: dict[str, Any] | None = None,
        on_evaluation: Callable[[int, float], None] | None = None,
    ) -> None:
        super().__init__()
        self.config, self.run_dir, self.eval_canvases = config, run_dir, eval_canvases
        self.log, self.stop = log, stop
        self.clock_offset_s = clock_offset_s
        self.best_valid = dict(best_valid or {"error_pct": math.inf, "update": -1})
        self.on_evaluation = on_evaluation
        self._next_eval = config.eval_every
        self._next_save = config.checkpoint_every
        self.started = time.perf_counter()
        self.out_of_time = False

    def elapsed(self) -> float:
        """Seconds of this run so far, earlier sessions included."""
        return self.clock_offset_s + time.perf_counter() - self.started

    def _on_training_start(self) -> None:
        self.started = time.perf_counter()
        done = self.model.num_timesteps  # > 0 when resumed
        self._next_eval = (done // self.config.eval_every + 1) * self.config.eval_every
        self._next_save = (done // self.config.checkpoint_every + 1) * self.config.checkpoint_every

    def _on_step(self) -> bool:
        evaluated = None
        steps = int(self.num_timesteps)
        if steps >= self._next_eval:
            self._next_eval += self.config.eval_every
            result = evaluate_baseline(self.model, self.config, self.eval_canvases, "valid")
            evaluated = result.error_pct
            self.logger.record("valid/accuracy", 1 - result.errors / result.total)
            self.logger.record("valid/error_pct", result.error_pct)
            image = Image(trajectory_image(result, self.config), "HWC")
            self.logger.record(
                "valid/trajectories", image, exclude=("stdout", "log", "json", "csv")
            )
            self.log.scalars(
                steps, {EVAL_KEY: result.error_pct, "time/wall_clock_s": round(self.elapsed(), 1)}
            )
            if result.error_pct < self.best_valid["error_pct"]:
                self.best_valid = {"error_pct": result.error_pct, "update": steps}
                save_checkpoint(self.model, self.run_dir, self.elapsed(), self.best_valid, BEST)
        if steps >= self._next_save:
            self._next_save += self.config.checkpoint_every
            save_checkpoint(self.model, self.run_dir, self.elapsed(), self.best_valid)
        if evaluated is not None and self.on_evaluation is not None:
            self.on_evaluation(steps, evaluated)
        budget = self.config.wall_clock_budget_s
        if budget and self.elapsed() >= budget:
            self.out_of_time = True
            return False  # SB3 ends learn(); the run is checkpointed and scored
        return not self.stop.requested


def train_baseline(
    config: BaselineConfig,
    run_dir: Path,
    progress: bool = True,
    resume: bool = False,
    on_evaluation: Callable[[int, float], None] | None = None,
    final_evaluation: bool = True,
) -> TrainResult | None:
    """Train, save ``run_dir/model.zip`` (and ``best.zip``, the lowest periodic validation
    error), evaluate the last model on the valid and test canvases, write ``final.json``
    (:mod:`agents.runs.final`) and ``trajectories.png`` (the final policy's glimpse paths on the
    first 16 test canvases).

    ``wall_clock_s`` counts training, its periodic evaluations and the final evaluation, as the
    other trainers do. A first Ctrl-C or SIGTERM ends training early: the model is still
    checkpointed and scored, and ``final.json`` says ``"interrupted": true`` with the steps
    actually taken. With ``config.wall_clock_budget_s`` the run also ends (checkpointed and
    scored, ``extra.stopped_by_wall_clock_budget``) once its clock reaches that budget.
    ``resume=True`` continues ``run_dir``'s last checkpoint up to ``config.timesteps`` (the clock
    goes on from the checkpoint's; the environments restart with fresh episodes, so a resumed run
    is not step-for-step the uninterrupted one).

    ``on_evaluation(timesteps, valid_error_pct)`` is called after each periodic validation
    evaluation; with ``final_evaluation=False`` (a sweep's trial) the run ends with its
    checkpoint, returns None and never reads the test canvases.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(run_dir / RUN_LOCK, f"training in {run_dir}"):
        return _train_baseline(config, run_dir, progress, resume, on_evaluation, final_evaluation)


def _train_baseline(
    config: BaselineConfig,
    run_dir: Path,
    progress: bool,
    resume: bool,
    on_evaluation: Callable[[int, float], None] | None,
    final_evaluation: bool,
) -> TrainResult | None:
    """:func:`train_baseline` once its run directory is locked."""
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    venv, _ = make_vec_env(config, config.num_envs, "train")
    clock_offset_s, best_valid, resumed_at = 0.0, None, None
    if resume:
        state = read_checkpoint_state(run_dir / LATEST)
        clock_offset_s, best_valid = state["wall_clock_s"], state.get("best_valid") or None
        model = load_model(run_dir / LATEST, config, venv, str(run_dir), with_optimizer=True)
        model.num_timesteps = resumed_at = int(state["timesteps"])
    else:
        model = make_model(config, venv, tensorboard_log=str(run_dir))
    prepare(run_dir, config.to_dict())  # a resume's budgets, too
    log = RunLog(run_dir, resume_update=resumed_at, tensorboard=False)
    remaining = max(config.timesteps - model.num_timesteps, 0)
    with StopOnSignal() as stop:
        callback = ValidAccuracyAndCheckpoints(
            config, run_dir, min(2000, config.eval_canvases), log, stop, clock_offset_s,
            best_valid, on_evaluation,
        )  # fmt: skip
        model.learn(
            remaining, callback=callback, progress_bar=progress, tb_log_name="sb3",
            reset_num_timesteps=not resume,
        )  # fmt: skip
    interrupted = stop.requested
    if interrupted:
        print(f"interrupted at {model.num_timesteps} steps: checkpointing and evaluating")
    train_seconds = callback.elapsed()
    save_checkpoint(model, run_dir, train_seconds, callback.best_valid)
    if not (run_dir / BEST).is_file():
        save_checkpoint(model, run_dir, train_seconds, callback.best_valid, BEST)
    if not final_evaluation:
        return None
    valid = evaluate_baseline(model, config, config.eval_canvases, "valid")
    result = evaluate_baseline(model, config, config.eval_canvases, "test")
    wall_clock_s = callback.elapsed()
    steps = int(model.num_timesteps)
    final = FinalResult.from_scores(
        valid_greedy=valid,
        test_greedy=result,
        family="sb3",
        agent=config.algo,
        name=f"{config.algo}-{task_name(config.env_id)}",
        env_id=config.env_id,
        progress=steps,
        env_steps=steps,
        wall_clock_s=round(wall_clock_s, 1),
        interrupted=interrupted,
        weights=LATEST,
        best_valid=best_valid_record(callback.best_valid),
        eval_seed=config.eval_seed,
        extra={
            "timesteps_requested": config.timesteps,
            "stopped_by_wall_clock_budget": callback.out_of_time,
            "train_seconds": round(train_seconds, 1),
            "env_steps_per_s": round(steps / max(train_seconds, 1e-9), 1),
        },
    )
    write_final(run_dir, final)
    log.close()
    save_trajectories_png(result, config, run_dir / "trajectories.png")
    venv.close()
    return TrainResult(run_dir, steps, interrupted, final.wall_clock_s, final, [valid, result])
