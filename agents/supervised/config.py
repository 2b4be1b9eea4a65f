"""The supervised baselines' configuration: :class:`SupervisedConfig`, the RAM each is sized
to match (:func:`ram_parameters`) and the learning-rate schedule."""

from __future__ import annotations

import math
from dataclasses import dataclass

from agents.config_io import DictConfig
from agents.supervised.models import BASELINES, count_parameters
from agents.training.config import TrainConfig
from agents.training.presets import preset_config
from agents.training.registry import build_agent, glimpse_shape
from glimpse_env.checks import check_int
from glimpse_env.envs import task_name, task_of
from glimpse_env.envs.task import TaskConfig
from glimpse_env.evaluation import EVAL_SEED

#: Config fields a resumed run may change: they do not alter the course of training. (Not
#: ``updates``: the cosine schedule is laid over them.)
RESUME_OVERRIDES = (
    "device", "num_threads", "log_every", "eval_every", "checkpoint_every",
    "eval_canvases", "final_eval_canvases", "eval_batch_size", "data_dir",
)  # fmt: skip
#: The RAM preset whose parameter count the ``fc`` and ``cnn`` baselines match, per task.
RAM_PRESET = {
    "MNIST-v0": "ram-mnist28-6g",
    "TranslatedMNIST-v0": "ram-translated60-6g",
    "ClutteredMNIST-v0": "ram-cluttered60-6g",
    "ClutteredMNIST100-v0": "ram-cluttered100-8g",
}


@dataclass
class SupervisedConfig(DictConfig):
    """Everything a supervised baseline run depends on.

    Attributes:
        env_id: the task whose canvases are classified (a registered id).
        dataset_path: an HDF5 file of canvases to classify instead of the id's (your own
            images, :mod:`glimpse_env.data.hdf5`).
        classes: classes of one answer (None: the id's, or the dataset file's).
        channels: channels of the canvases (None: the source's; a check when given).
        model: ``"fc"``, ``"cnn"`` (both matched in parameters to RAM) or ``"cnn-large"``.
        matched_parameters: the parameter count the sizes are matched to (None: the RAM agent's
            of this task, :func:`ram_parameters`).
        batch_size: canvases per update.
        updates: parameter updates.
        lr: Adam's initial learning rate; it decays on a cosine to ``lr * final_lr_fraction``.
        weight_decay: Adam's L2 weight decay.
        seed: the model initialisation and the training canvases' streams.
        device: ``"cpu"`` or ``"cuda"``.
        num_threads: torch CPU threads (0: torch's default).
        data_dir: MNIST directory (default lookup: :mod:`glimpse_env.data.mnist`).
        log_every: updates between logged training scalars.
        eval_every: updates between validation evaluations, plus one at the last update (0:
            none; then ``best.pt`` is the last weights).
        eval_canvases: validation canvases per evaluation during training.
        final_eval_canvases: canvases of the final valid and test evaluation (10,000: each
            split's digits once).
        eval_batch_size: canvases per evaluation batch.
        eval_seed: picks the fixed evaluation canvases (the attention agents' default, so all
            are scored on the same canvases).
        checkpoint_every: updates between checkpoints.
    """

    env_id: str = "ClutteredMNIST-v0"
    dataset_path: str | None = None
    classes: int | None = None
    channels: int | None = None
    model: str = "cnn"
    matched_parameters: int | None = None
    batch_size: int = 128
    updates: int = 16_000
    lr: float = 1e-3
    final_lr_fraction: float = 0.01
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "cpu"
    num_threads: int = 0
    data_dir: str | None = None
    log_every: int = 100
    eval_every: int = 1000
    eval_canvases: int = 2000
    final_eval_canvases: int = 10_000
    eval_batch_size: int = 500
    eval_seed: int = EVAL_SEED
    checkpoint_every: int = 1000

    def __post_init__(self) -> None:
        task_name(self.env_id)  # raises on an unknown id
        if self.model not in BASELINES:
            raise ValueError(f"model must be one of {BASELINES}, got {self.model!r}")
        positive = ("batch_size", "updates", "log_every", "eval_canvases", "final_eval_canvases")
        for name in (*positive, "eval_batch_size", "checkpoint_every"):
            check_int(name, getattr(self, name), minimum=1)
        for name in ("eval_every", "num_threads"):
            check_int(name, getattr(self, name), minimum=0)
        if self.matched_parameters is not None:
            check_int("matched_parameters", self.matched_parameters, minimum=1)
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr}")
        if not 0 < self.final_lr_fraction <= 1:
            raise ValueError(f"final_lr_fraction must be in (0, 1], got {self.final_lr_fraction}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")

    @property
    def name(self) -> str:
        """``<model>-<task>``, e.g. ``cnn-ClutteredMNIST-v0``: the run directories' prefix."""
        return f"{self.model}-{task_name(self.env_id)}"

    def task(self, split: str) -> TaskConfig:
        """The task of this config on ``split``."""
        return task_of(
            self.env_id, split=split, data_dir=self.data_dir, dataset_path=self.dataset_path,
            classes=self.classes, channels=self.channels,
        )  # fmt: skip


def ram_parameters(
    env_id: str, classes: int | None = None, channels: int | None = None
) -> tuple[int, str]:
    """``(parameters, preset)``: the size of the RAM agent the baselines are matched to on
    ``env_id`` (its zoo preset; the RAM of ``ClutteredMNIST-v0``'s preset on the other ids),
    with ``classes`` answers and ``channels``-channel glimpses when given (your own images)."""
    name = task_name(env_id)
    if name in RAM_PRESET:
        config = preset_config(RAM_PRESET[name])
        preset = RAM_PRESET[name]
    else:
        config = TrainConfig(env_id=name, agent="ram")
        preset = f"ram (default sizes) on {name}"
    if classes is not None or channels is not None:
        config = TrainConfig.from_dict({**config.to_dict(), "classes": classes,
                                        "channels": channels})  # fmt: skip
        preset += f" with classes={classes}, channels={channels}"
    return count_parameters(build_agent(config, glimpse_shape(config))), preset


def cosine_lr(config: SupervisedConfig, update: int) -> float:
    """The learning rate of ``update`` (0-based): cosine from ``lr`` to the floor."""
    floor = config.lr * config.final_lr_fraction
    progress = min(update / config.updates, 1.0)
    return floor + 0.5 * (config.lr - floor) * (1.0 + math.cos(math.pi * progress))
