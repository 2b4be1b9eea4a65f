"""One sweep trial: an ordinary training run of this project, reporting its validation error.

A trial is the run ``train/ram_agent.py`` (or ``dram``, ``edram``, ``ppo_baseline.py``) would
make with the sampled values as flags: the same trainer, checkpoints, TensorBoard events and run
directory layout, in ``<runs_dir>/<trial id>/``. At every periodic evaluation on ``valid`` it
reports ``{"valid_error": percent, "progress": updates or env steps}`` to Ray Tune, whose
scheduler (ASHA) may stop it there. It never reads the test split.

If Ray restarts a trial (a node died, the experiment was restored), the trial finds its own
``checkpoint.pt`` (or SB3 ``checkpoint.json``) in its run directory and continues from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.runs.directory import CHECKPOINT_FILE
from agents.training.config import AGENTS as TRAINED_AGENTS
from agents.training.config import TrainConfig, config_class
from agents.training.presets import preset_config
from agents.training.trainer import Trainer
from glimpse_env.checks import check_int

#: Agent families trained by :class:`agents.training.trainer.Trainer`.
ATTENTION_AGENTS = TRAINED_AGENTS
#: SB3 families trained by :func:`agents.sb3.baselines.train_baseline`.
SB3_AGENTS = ("recurrent-ppo", "ppo")
AGENTS = ATTENTION_AGENTS + SB3_AGENTS
#: What a trial reports: the metric the sweep minimises and its clock.
METRIC, PROGRESS = "valid_error", "progress"


@dataclass(frozen=True)
class TrialSpec:
    """What every trial of a sweep shares (picklable; sent to each Ray worker).

    Attributes:
        agent: one of :data:`AGENTS`.
        preset: the attention agent's preset (ignored for SB3).
        env_id: the SB3 baseline's task (ignored for attention agents, whose preset has one).
        budget: updates (attention agents) or env steps (SB3) a trial may run at most.
        eval_every: updates / env steps between reports (the scheduler's rungs fall on them).
        eval_canvases: validation canvases per report.
        fixed: further fields every trial sets (``--set name=value``).
        runs_dir: where trial run directories go (on shared storage for a cluster).
        seed: every trial's seed (so trials differ only by their sampled values).
        num_threads: torch threads per trial (its ``--cpus-per-trial``).
        device: ``"cpu"`` or ``"cuda"`` (with ``--gpus-per-trial``).
    """

    agent: str
    preset: str | None
    env_id: str | None
    budget: int
    eval_every: int
    eval_canvases: int
    runs_dir: str
    fixed: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    num_threads: int = 1
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.agent not in AGENTS:
            raise ValueError(f"agent must be one of {AGENTS}, got {self.agent!r}")
        if self.agent in ATTENTION_AGENTS and self.preset is None:
            raise ValueError(f"agent {self.agent!r} needs --preset")
        for name in ("budget", "eval_every", "eval_canvases"):
            check_int(name, getattr(self, name))
        if self.eval_every > self.budget:
            raise ValueError(
                f"eval_every ({self.eval_every}) exceeds the budget ({self.budget}): the trials "
                "would never report"
            )

    @property
    def last_report(self) -> int:
        """The progress of a trial's last report when it runs the whole budget."""
        return self.budget - self.budget % self.eval_every

    def train_config(self, params: dict[str, Any], **changes: Any) -> TrainConfig:
        """The attention agent's :class:`TrainConfig` for sampled ``params``."""
        assert self.preset is not None
        config = preset_config(
            self.preset,
            **{
                "seed": self.seed, "num_threads": self.num_threads, "device": self.device,
                "updates": self.budget, "eval_every": self.eval_every,
                "eval_canvases": self.eval_canvases, "checkpoint_every": self.eval_every,
                **self.fixed, **params, **changes,
            },
        )  # fmt: skip
        if config.agent != self.agent:
            raise ValueError(f"preset {self.preset!r} trains {config.agent!r}, not {self.agent!r}")
        return config

    def baseline_config(self, params: dict[str, Any], **changes: Any):
        """The SB3 baseline's :class:`~agents.sb3.config.BaselineConfig` for ``params``
        (SB3 settings of the task's preset, ``preset_hyper(algo, env_id)``, or ``policy.NAME``
        for its policy)."""
        from agents.sb3.config import BaselineConfig, apply_hyper_overrides, preset_hyper

        env_id = self.env_id or "ClutteredMNIST-v0"
        hyper = apply_hyper_overrides(preset_hyper(self.agent, env_id), {**self.fixed, **params})
        return BaselineConfig(
            **{
                "algo": self.agent, "env_id": env_id,
                "timesteps": self.budget, "eval_every": self.eval_every,
                "checkpoint_every": self.eval_every, "eval_canvases": self.eval_canvases,
                "seed": self.seed, "device": self.device, "hyper": hyper, **changes,
            }
        )  # fmt: skip

    def check_values(self, values: dict[str, list[Any]]) -> None:
        """Fail before any trial starts if a value the space can give makes an invalid
        configuration (``values``: each swept name's listed values or range ends)."""
        if self.agent not in ATTENTION_AGENTS:
            return
        for name, options in values.items():
            for value in options:
                try:
                    self.train_config({name: value})
                except (ValueError, TypeError) as error:
                    raise ValueError(
                        f"the space gives {name}={value!r}, which fails: {error}"
                    ) from None

    def check(self, names: list[str]) -> None:
        """Fail before any trial starts if a swept or fixed name is not a setting of the
        agent family (builds one configuration with placeholder values)."""
        probe = {name: None for name in names}
        if self.agent in ATTENTION_AGENTS:
            family = config_class(self.agent)
            known = set(family.__dataclass_fields__)
            unknown = sorted((set(names) | set(self.fixed)) - known)
            if unknown:
                raise ValueError(f"{unknown} are not fields of {family.__name__} (see --help)")
            self.train_config({})
        else:
            from agents.sb3.config import HYPER, apply_hyper_overrides

            apply_hyper_overrides(HYPER[self.agent], {**self.fixed, **probe})  # same keys per task


def run_trial(params: dict[str, Any], spec: TrialSpec) -> None:
    """The Ray Tune function trainable: train with ``params``, report at every evaluation."""
    import ray
    import torch
    from ray import tune

    torch.set_num_threads(spec.num_threads)
    run_dir = Path(spec.runs_dir) / tune.get_context().get_trial_id()
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "params.json").write_text(json.dumps(params, indent=2) + "\n")
    node = ray.get_runtime_context().get_node_id()  # which Ray node ran the trial

    def report(progress: int, error: float) -> None:
        tune.report({METRIC: error, PROGRESS: progress, "run_dir": str(run_dir), "node": node})

    if spec.agent in ATTENTION_AGENTS:
        checkpoint = run_dir / CHECKPOINT_FILE
        if checkpoint.is_file():  # restarted by Ray: continue where it stopped
            trainer = Trainer.from_checkpoint(checkpoint, progress=False)
        else:
            trainer = Trainer(spec.train_config(params), run_dir, progress=False)
        trainer.on_evaluation = report
        trainer.train(final_evaluation=False)
    else:
        from agents.sb3.baselines import train_baseline
        from agents.sb3.files import CHECKPOINT_FILE as SB3_CHECKPOINT

        resume = (run_dir / SB3_CHECKPOINT).is_file()
        train_baseline(
            spec.baseline_config(params), run_dir, progress=False, resume=resume,
            on_evaluation=report, final_evaluation=False,
        )  # fmt: skip
