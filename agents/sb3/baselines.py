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

import dataclasses
import io
import json
import math
import os
import pickle
import time
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image as PILImage
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Image
from stable_baselines3.common.vec_env import VecEnv, VecFrameStack, VecMonitor

from agents.config_io import DictConfig
from agents.evaluation import EvalResult, Player, evaluate, trajectory_grid
from agents.runs.checkpoint import write_error
from agents.runs.directory import prepare
from agents.runs.final import FinalResult, best_valid_record, write_final
from agents.runs.log import EVAL_KEY, RunLog
from agents.runs.loop import StopOnSignal
from agents.sb3.features import resolve_policy_kwargs
from agents.sb3.scored_steps import SWITCH, ScoredStepLstmPolicy, ScoredStepPolicy
from agents.sb3.vec_env import GlimpseSB3VecEnv
from agents.weights import UnsafeFileError, WeightsMismatchError, state_dict_sha256
from glimpse_env.atomic import atomic_path, write_json_atomic
from glimpse_env.checks import check_int
from glimpse_env.envs import task_name, task_of
from glimpse_env.envs.cluttered_mnist import episode_info
from glimpse_env.evaluation import EVAL_SEED

ALGOS = ("recurrent-ppo", "ppo")


@dataclass
class BaselineConfig(DictConfig):
    """A baseline run.

    Attributes:
        algo: ``"recurrent-ppo"`` or ``"ppo"``.
        env_id: the task (a registered id).
        num_envs: parallel episodes (SB3's ``n_envs``).
        grid_size: location grid points per axis (:class:`glimpse_env.envs.wrappers.GridActions`).
        frame_stack: observations stacked, ``ppo`` only (not recorded for ``recurrent-ppo``).
        timesteps: environment steps to train (all envs together).
        seed: the model initialisation and the training episodes.
        device: ``"cpu"`` or ``"cuda"``.
        num_threads: torch CPU threads (0: torch's default).
        eval_canvases: canvases of the final valid and test evaluation (the periodic ones use at
            most 2,000).
        eval_batch_size: canvases per evaluation batch.
        eval_seed: picks the fixed evaluation canvases (the attention agents' default).
        eval_every: environment steps between validation evaluations during training.
        checkpoint_every: environment steps between checkpoints.
        hyper: keyword arguments of the SB3 algorithm (n_steps, batch_size, learning_rate, ...);
            empty: :func:`preset_hyper` of ``algo`` and ``env_id``.
        wall_clock_budget_s: stop training once the run's clock (training and its periodic
            evaluations, summed over resumes) reaches this many seconds, then checkpoint and
            score (0: no limit).
    """

    algo: str = "recurrent-ppo"
    env_id: str = "ClutteredMNIST-v0"
    num_envs: int = 64
    grid_size: int = 9
    frame_stack: int = 6
    timesteps: int = 1_000_000
    seed: int = 0
    device: str = "cpu"
    num_threads: int = 0
    eval_canvases: int = 10_000
    eval_batch_size: int = 1000
    eval_seed: int = EVAL_SEED
    eval_every: int = 100_000
    checkpoint_every: int = 100_000
    hyper: dict[str, Any] = field(default_factory=dict)
    wall_clock_budget_s: float = 0.0

    def __post_init__(self) -> None:
        if self.algo not in ALGOS:
            raise ValueError(f"algo must be one of {ALGOS}, got {self.algo!r}")
        task_name(self.env_id)  # raises on an unknown id
        positive = ("num_envs", "grid_size", "frame_stack", "timesteps", "eval_canvases")
        for name in (*positive, "eval_batch_size", "eval_every", "checkpoint_every"):
            check_int(name, getattr(self, name), minimum=1)
        check_int("num_threads", self.num_threads, minimum=0)
        if not self.wall_clock_budget_s >= 0:
            raise ValueError(
                f"wall_clock_budget_s must be >= 0 (0: no limit), got {self.wall_clock_budget_s}"
            )
        if self.grid_size < 2:
            raise ValueError(f"grid_size must be >= 2 (a grid over [-1, 1]), got {self.grid_size}")

    def to_dict(self) -> dict[str, Any]:
        """The fields that apply to the run (``frame_stack`` only for ``ppo``)."""
        values = super().to_dict()
        if self.algo != "ppo":
            del values["frame_stack"]
        return values


def saved_config(run_dir: Path, **overrides: Any) -> BaselineConfig:
    """The :class:`BaselineConfig` a run wrote to ``run_dir/config.json``, with ``overrides``."""
    saved = run_dir / "config.json"
    if not saved.is_file():
        raise FileNotFoundError(f"{saved} (the run's config) is missing")
    return BaselineConfig.from_dict({**json.loads(saved.read_text()), **overrides})


#: How frame-stacked PPO stacks each observation: glimpses along their scale axis (channels
#: first), locations and steps after each other.
FRAME_STACK_ORDER = {"glimpse": "first", "location": "last", "step": "last"}


def make_vec_env(
    config: BaselineConfig, num_envs: int, split: str
) -> tuple[VecEnv, GlimpseSB3VecEnv]:
    """``(the VecEnv the algorithm sees, the adapter underneath)`` for ``split``."""
    adapter = GlimpseSB3VecEnv.from_id(
        config.env_id, num_envs, grid_size=config.grid_size, device=config.device, split=split
    )
    venv: VecEnv = VecMonitor(adapter)
    if config.algo == "ppo" and config.frame_stack > 1:
        venv = VecFrameStack(venv, config.frame_stack, channels_order=FRAME_STACK_ORDER)
    return venv, adapter


def make_model(config: BaselineConfig, venv: VecEnv, tensorboard_log: str | None) -> BaseAlgorithm:
    """The SB3 algorithm of ``config.algo`` on ``venv``."""
    kwargs = dict(config.hyper or preset_hyper(config.algo, config.env_id))
    policy_kwargs = resolve_policy_kwargs(kwargs.get("policy_kwargs", {}))
    scored_steps = bool(policy_kwargs.pop(SWITCH, False))
    if scored_steps:  # the label's log-probability counts only where the env reads it
        task = task_of(config.env_id)
        policy_kwargs.update(
            answer_steps=list(task.answer_steps), episode_length=task.episode_length
        )
    kwargs["policy_kwargs"] = policy_kwargs
    kwargs.update(seed=config.seed, device=config.device, tensorboard_log=tensorboard_log)
    if config.algo == "recurrent-ppo":
        from sb3_contrib import RecurrentPPO

        policy = ScoredStepLstmPolicy if scored_steps else "MultiInputLstmPolicy"
        return RecurrentPPO(policy, venv, **kwargs)
    return PPO(ScoredStepPolicy if scored_steps else "MultiInputPolicy", venv, **kwargs)


class SB3Episodes:
    """The SB3 ``VecEnv`` stack seen as :func:`agents.evaluation.evaluate` sees an env:
    ``reset_to(key, episodes)`` starts the given episodes through every SB3 wrapper
    (``VecFrameStack`` included), so SB3 policies are scored by the same evaluation function, on
    the same canvases, as the attention agents."""

    def __init__(self, venv: VecEnv, adapter: GlimpseSB3VecEnv) -> None:
        self.venv, self.adapter = venv, adapter
        self.num_envs, self.episodes = adapter.num_envs, adapter.venv.episodes
        self.config = adapter.venv.config
        self.distinct_canvases = adapter.venv.distinct_canvases
        self.device = adapter.venv.device
        self.last_obs: Any = None

    @property
    def canvases(self) -> torch.Tensor:
        return self.adapter.venv.canvases

    def reset_to(self, key: int, episodes: np.ndarray) -> tuple[Any, dict[str, torch.Tensor]]:
        self.adapter.select_episodes(key, episodes)
        self.last_obs = self.venv.reset()
        return self.last_obs, episode_info(self.episodes)


def sb3_player(model: BaseAlgorithm) -> Player:
    """The :class:`~agents.evaluation.Player` of an SB3 policy acting deterministically
    on :class:`SB3Episodes`: its named class as one-hot logits, and the glimpse centres."""

    def play(env: SB3Episodes, first, sample, noise):
        task = env.episodes.config
        steps, scored = task.episode_length, set(task.answer_steps)
        obs, n = first[0], env.num_envs
        answers = []
        path = [env.episodes.locations.cpu().numpy()]  # glimpse centres, (N, 2) per step
        state, starts = None, np.ones(n, dtype=bool)
        for step in range(steps):
            action, state = model.predict(
                obs, state=state, episode_start=starts, deterministic=True
            )
            if step + 1 in scored:
                answers.append(torch.as_tensor(np.asarray(action)[:, 2], device=env.device))
            obs, _, dones, _ = env.venv.step(action)
            starts = dones
            if step < steps - 1:  # after the last step the env has already reset
                path.append(env.episodes.locations.cpu().numpy())
        if not dones.all():
            raise RuntimeError("evaluation episodes did not end after their last step")
        named = torch.stack(answers, 1)  # (N, A)
        logits = torch.nn.functional.one_hot(named, task.num_classes).float()
        return logits, torch.from_numpy(np.stack(path, axis=1))

    return play


def evaluate_baseline(
    model: BaseAlgorithm, config: BaselineConfig, num_canvases: int, split: str = "test"
) -> EvalResult:
    """Deterministic error on the fixed canvases of ``split`` (see the module docstring), by
    :func:`agents.evaluation.evaluate`, the attention agents' evaluation."""
    batch = min(config.eval_batch_size, num_canvases)
    venv, adapter = make_vec_env(config, batch, split)
    try:
        episodes = SB3Episodes(venv, adapter)
        result = evaluate(
            model.policy, episodes, sb3_player(model), num_canvases, eval_seed=config.eval_seed
        )
    finally:
        venv.close()
    return dataclasses.replace(result, mode="deterministic")


def trajectory_image(result: EvalResult, config: BaselineConfig, count: int = 16) -> np.ndarray:
    """``(H, W, 3)`` uint8 grid of the first ``count`` test glimpse paths of ``result``."""
    task = task_of(config.env_id)
    assert result.examples is not None
    return trajectory_grid(
        result.examples, task.glimpse_size, task.num_scales, task.scale_factor, count=count
    )


def save_trajectories_png(result: EvalResult, config: BaselineConfig, path: Path) -> None:
    """:func:`trajectory_image` of ``result`` written to ``path`` as a PNG (atomically)."""
    with atomic_path(path) as tmp:
        PILImage.fromarray(trajectory_image(result, config)).save(tmp, format="PNG")


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


CHECKPOINT_FILE = "checkpoint.json"
#: The SB3 run's latest checkpoint and its lowest-validation-error one (``checkpoint.pt`` and
#: ``best.pt`` of the other trainers).
LATEST, BEST = "model.zip", "best.zip"


#: The checkpoint state's entry inside ``model.zip``: the zip is the checkpoint, one file.
STATE_ENTRY = "glimpse_checkpoint.json"


def save_checkpoint(
    model: BaseAlgorithm,
    run_dir: Path,
    wall_clock_s: float,
    best_valid: dict[str, Any] | None = None,
    name: str = LATEST,
) -> None:
    """``run_dir/<name>`` (``model.zip``, or ``best.zip``) with the state ``{"timesteps",
    "wall_clock_s", "policy_sha256", "best_valid"}`` inside it (entry :data:`STATE_ENTRY`),
    written to a temporary name and renamed: one file, so a crash leaves the previous checkpoint
    whole. For ``model.zip``, ``checkpoint.json`` beside it is a copy for people and older
    readers (:func:`read_checkpoint_state` prefers the zip's)."""
    best = dict(best_valid or {})
    if not math.isfinite(best.get("error_pct", 0.0)):
        best = {}
    state = {
        "timesteps": int(model.num_timesteps),
        "wall_clock_s": round(wall_clock_s, 1),
        "policy_sha256": state_dict_sha256(model.policy.state_dict()),
        "best_valid": best,
    }
    save_model(model, run_dir / name, state)
    if name == LATEST:
        write_json_atomic(run_dir / CHECKPOINT_FILE, state, indent=None)


def save_model(
    model: BaseAlgorithm, path: str | os.PathLike, state: dict[str, Any] | None = None
) -> Path:
    """``model.save`` to a temporary name (with ``state`` as the zip entry :data:`STATE_ENTRY`),
    then rename: an interrupted or failed save keeps the old file and leaves no temporary.

    Raises:
        OSError: one clear line (``no space left on device while writing ...``).
    """
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            staging = tmp.with_suffix(".zip")  # SB3 appends .zip to names without it
            try:
                model.save(staging)
                if state is not None:
                    with zipfile.ZipFile(staging, "a") as archive:
                        archive.writestr(STATE_ENTRY, json.dumps(state))
                staging.replace(tmp)
            finally:
                staging.unlink(missing_ok=True)
    except (OSError, RuntimeError, zipfile.BadZipFile) as error:
        raise write_error(path, error) from None
    return path


def read_checkpoint_state(model_zip: Path) -> dict[str, Any]:
    """The checkpoint state of a saved ``model_zip``: its entry :data:`STATE_ENTRY`, else (runs
    saved before it was embedded) the ``checkpoint.json`` beside it; one clear error if neither
    is readable."""
    run_dir, state_path = model_zip.parent, model_zip.parent / CHECKPOINT_FILE
    state: Any = None
    try:
        with zipfile.ZipFile(model_zip) as archive:
            if STATE_ENTRY in archive.namelist():
                state = json.loads(archive.read(STATE_ENTRY))
    except FileNotFoundError:
        raise FileNotFoundError(f"{model_zip} is missing: nothing to resume in {run_dir}") from None
    except (zipfile.BadZipFile, OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{model_zip} is not a readable checkpoint: {error}") from None
    if state is None:
        if not state_path.is_file():
            raise FileNotFoundError(f"{state_path} is missing: nothing to resume in {run_dir}")
        try:
            state = json.loads(state_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{state_path} is not readable JSON: {error}") from None
    keys = ("timesteps", "wall_clock_s")
    if not isinstance(state, dict) or any(key not in state for key in keys):
        raise ValueError(f"the checkpoint state of {run_dir} is not an object with {list(keys)}")
    return state


def _read_zip_tensors(archive: zipfile.ZipFile, name: str, path: Path) -> Any:
    """``torch.load(weights_only=True)`` of one entry of an SB3 zip."""
    try:
        data = archive.read(name)
    except KeyError:
        raise ValueError(f"{path} has no {name!r}: not a saved SB3 model") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UnsafeFileError(
            f"refusing to load {path}: its {name!r} is not plain tensors; nothing in it was run"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path}: {name!r} is not readable: {error}") from None


def load_model(
    path: str | os.PathLike,
    config: BaselineConfig,
    env: VecEnv | None = None,
    tensorboard_log: str | None = None,
    with_optimizer: bool = False,
) -> BaseAlgorithm:
    """A baseline built from ``config`` with the parameters saved in ``path`` (a ``model.zip``).

    Only ``policy.pth`` (and, with ``with_optimizer``, ``policy.optimizer.pth``) are read, with
    ``weights_only=True``; the zip's pickled ``data`` is never opened. When the zip's directory
    has a ``checkpoint.json`` recording ``policy_sha256``, the parameters must match it.

    Raises:
        FileNotFoundError: no file at ``path``.
        agents.weights.UnsafeFileError: an entry would run code to load (nothing was run).
        agents.weights.WeightsMismatchError: the parameters differ from the recorded sha256.
        ValueError: not a readable SB3 zip, or parameters that do not fit ``config``'s model.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no saved model at {path}")
    try:
        with zipfile.ZipFile(path) as archive:
            policy = _read_zip_tensors(archive, "policy.pth", path)
            optimizer = (
                _read_zip_tensors(archive, "policy.optimizer.pth", path) if with_optimizer else None
            )
            embedded = STATE_ENTRY in archive.namelist()
    except zipfile.BadZipFile as error:
        raise ValueError(f"{path} is not a saved SB3 model (zip): {error}") from None
    recorded, where = None, path.parent / CHECKPOINT_FILE
    if embedded:  # the checkpoint's own state: the zip's entry
        recorded, where = read_checkpoint_state(path).get("policy_sha256"), path
    elif path.name == "model.zip" and where.is_file():
        recorded = read_checkpoint_state(path).get("policy_sha256")
    if recorded is not None and state_dict_sha256(policy) != recorded:
        raise WeightsMismatchError(
            f"{path}: its parameters do not match the policy_sha256 in {where}: the file is "
            "corrupt or was altered"
        )
    if env is None:
        env, _ = make_vec_env(config, config.num_envs, "valid")
    model = make_model(config, env, tensorboard_log)
    try:
        model.policy.load_state_dict(policy)
        if optimizer is not None:
            model.policy.optimizer.load_state_dict(optimizer)
    except (RuntimeError, ValueError, KeyError) as error:
        raise ValueError(
            f"{path}: the saved parameters do not fit the model of its config.json: {error}"
        ) from None
    return model


#: Hyper-parameters per algorithm (first chosen on ClutteredMNIST-v0; :data:`TASK_HYPER` has
#: the changes tuned per task), as SB3 keyword arguments (``policy_kwargs`` names its features
#: extractor by string, see :mod:`agents.sb3.features`). ``n_steps`` is a multiple of the
#: 6-glimpse episode. Both policies see through RAM's glimpse network; RecurrentPPO shares one
#: LSTM between actor and critic (critic gradients stop at the LSTM, as in sb3-contrib).
#: ``label_at_scored_steps``: :mod:`agents.sb3.scored_steps`. How each value was chosen, with the
#: measurements: docs/baselines.md, "How the SB3 presets were chosen".
_PPO_COMMON: dict[str, Any] = dict(
    n_steps=36, batch_size=576, n_epochs=4, learning_rate=3e-4, gamma=0.99, gae_lambda=0.5,
    ent_coef=0.05,
)  # fmt: skip
HYPER: dict[str, dict[str, Any]] = {
    "recurrent-ppo": {
        **_PPO_COMMON,
        "policy_kwargs": dict(
            features_extractor_class="glimpse",
            lstm_hidden_size=256,
            net_arch=[],
            shared_lstm=True,
            enable_critic_lstm=False,
            label_at_scored_steps=True,
        ),
    },
    "ppo": {
        **_PPO_COMMON,
        "policy_kwargs": dict(features_extractor_class="glimpse", net_arch=[256]),
    },
}

#: Changes to ``HYPER[algo]`` tuned for one task on ``valid``, keyed by ``(algo, env_id)``; a
#: task without an entry runs ``HYPER[algo]``. They learn faster but level off higher than
#: ``HYPER``: they are the presets for runs of up to a few million env steps; for longer runs pass
#: ``HYPER``'s values (docs/baselines.md has the sweeps and the curves).
_RECURRENT_PPO_60X60 = dict(learning_rate=5.2e-4, ent_coef=0.043, gae_lambda=0.71, n_steps=72)
TASK_HYPER: dict[tuple[str, str], dict[str, Any]] = {
    ("recurrent-ppo", "TranslatedMNIST-v0"): _RECURRENT_PPO_60X60,
    ("recurrent-ppo", "ClutteredMNIST-v0"): _RECURRENT_PPO_60X60,
}


def preset_hyper(algo: str, env_id: str) -> dict[str, Any]:
    """The SB3 settings a run of ``algo`` on ``env_id`` starts from: ``HYPER[algo]`` with the
    task's :data:`TASK_HYPER` changes (a new dict; the presets are not modified)."""
    if algo not in HYPER:
        raise ValueError(f"algo must be one of {sorted(HYPER)}, got {algo!r}")
    return apply_hyper_overrides(HYPER[algo], TASK_HYPER.get((algo, env_id), {}))


@dataclass
class BaselineResult:
    """Final deterministic errors of a baseline run: ``valid`` (for selection) and ``test``."""

    valid: EvalResult
    test: EvalResult
    interrupted: bool = False


def apply_hyper_overrides(hyper: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``hyper`` with ``overrides`` applied; ``"policy.NAME"`` keys go into ``policy_kwargs``
    (``policy.lstm_hidden_size=128``, ``policy.features_extractor_class=flatten``).

    Raises:
        ValueError: a name that is neither a key of ``hyper`` nor ``policy.*``.
    """
    unknown = sorted(n for n in overrides if not n.startswith("policy.") and n not in hyper)
    if unknown:
        raise ValueError(f"{unknown} are not SB3 settings here; known: {sorted(hyper)}")
    merged = {**hyper, "policy_kwargs": dict(hyper.get("policy_kwargs", {}))}
    for name, value in overrides.items():
        if name.startswith("policy."):
            merged["policy_kwargs"][name.removeprefix("policy.")] = value
        else:
            merged[name] = value
    return merged


def train_baseline(
    config: BaselineConfig,
    run_dir: Path,
    progress: bool = True,
    resume: bool = False,
    on_evaluation: Callable[[int, float], None] | None = None,
    final_evaluation: bool = True,
) -> BaselineResult | None:
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
    return BaselineResult(valid, result, interrupted)
