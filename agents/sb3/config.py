"""The SB3 baselines' configuration: :class:`BaselineConfig`, the algorithms, and the
hyper-parameters per algorithm and task (:func:`preset_hyper`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.config_io import DictConfig
from glimpse_env.checks import check_int
from glimpse_env.envs import task_name
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
    try:
        values = json.loads(saved.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ValueError(f"{saved} is not a readable run config: {error}") from None
    if not isinstance(values, dict):
        raise ValueError(
            f"{saved} is not a run config (a JSON object), got {type(values).__name__}"
        )
    return BaselineConfig.from_dict({**values, **overrides})


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
