"""Training configuration of the attention agents, and the named presets.

One flat dataclass, so that every field is a command-line override (``--location-std 0.2``)
and the resolved configuration is one JSON object beside the logs. Task fields left ``None``
take the value of the registered environment id (:data:`glimpse_env.envs.ENV_IDS`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from agents.config_io import DictConfig
from agents.models.dram import GLIMPSE_NETWORKS
from agents.models.ram import CORES
from glimpse_env.checks import check_int
from glimpse_env.data.canvas import distractor_range
from glimpse_env.envs import TaskConfig, task_name, task_settings
from glimpse_env.evaluation import EVAL_SEED

#: An int, or an inclusive ``[low, high]`` range drawn per canvas (``--num-distractors 2-8``).
CountRange = int | list[int] | tuple[int, int]

#: The agent families this configuration trains (builders: :mod:`agents.training.registry`).
AGENTS = ("ram", "dram", "edram")
#: Config fields an evaluation of a saved model may set (``--eval``, :func:`agents.zoo.load`):
#: they choose the canvases and how they are scored, not the model or its task.
EVAL_OVERRIDES = (
    "device", "num_threads", "final_eval_canvases", "eval_batch_size", "eval_seed", "mc_samples",
    "data_dir",
)  # fmt: skip


def check_eval_overrides(changes: Iterable[str]) -> None:
    """Raise ``ValueError`` naming every field of ``changes`` outside :data:`EVAL_OVERRIDES`."""
    unknown = sorted(set(changes) - set(EVAL_OVERRIDES))
    if unknown:
        raise ValueError(
            f"cannot change {unknown} when evaluating a saved model (it would score the weights "
            f"on another model or task); allowed: {list(EVAL_OVERRIDES)}"
        )


#: Fields of :class:`glimpse_env.envs.TaskConfig` a preset or the command line may override:
#: all of them but ``split`` (the trainer chooses the split of each env). Read from TaskConfig,
#: so a new task field needs only a ``None``-default field of the same name below.
TASK_FIELDS = tuple(f.name for f in dataclasses.fields(TaskConfig) if f.name != "split")


@dataclass
class TrainConfig(DictConfig):
    """Everything a training run depends on that every attention family shares: the task, the
    optimiser, the run. Each family adds its own fields (:class:`RAMConfig`,
    :class:`DRAMConfig`, :class:`EDRAMConfig`); ``TrainConfig(agent=..., ...)`` and
    :meth:`from_dict` give the family's class, so ``TrainConfig(**values)`` builds any of them.

    A task field left None takes the value of ``env_id``. The optimiser is Adam with a staircase
    exponential decay, ``lr * lr_decay ** (update // lr_decay_every)`` floored at ``min_lr``.

    Task:
        env_id: registered task, e.g. ``"ClutteredMNIST-v0"`` or
            ``"GlimpseEnv/ClutteredMNIST-v0"`` (the same task).
        canvas_size ... classes: :class:`glimpse_env.envs.TaskConfig` overrides (pixels).

    Model:
        agent: model family (``"ram"``, ``"dram"`` (needs ``context_size`` > 0) or ``"edram"``).
        hidden: units of the core (RAM, DRAM) or of EDRAM's LSTMs.

    Optimisation:
        batch_size: episodes per update (= number of parallel environments).
        updates: number of parameter updates.
        lr: Adam's initial learning rate.
        lr_decay: factor applied to the learning rate every ``lr_decay_every`` updates.
        lr_decay_every: updates between two decays of the learning rate.
        min_lr: floor of the learning rate.
        max_grad_norm: clip the global gradient norm (None: no clipping, as the replications).

    Run:
        init_from: start from the weights of this zoo file or checkpoint (fresh optimiser and
            schedule); the new run's lineage includes the parent's (:mod:`agents.zoo`).
        seed: seeds the model initialisation, the training environments and the policy noise.
        device: ``"cpu"`` or ``"cuda"`` (or ``"cuda:1"``, ...).
        num_threads: torch CPU threads (0: torch's default).
        log_every: updates between logged training scalars.
        eval_every: updates between evaluations on the ``valid`` split during training, which
            also evaluates the last update (0: none).
        eval_canvases: validation canvases per evaluation during training (greedy).
        final_eval_canvases: canvases of the final evaluation on ``valid`` and on ``test``
            (greedy and Monte-Carlo); 10,000 is each split's digits once. The command line
            takes the preset's figure for its full schedule and at most 1,000 for a run given
            fewer ``--updates``; an image folder's runs at most the images its valid and test
            splits hold.
        mc_samples: sampled glimpse paths averaged per canvas in Monte-Carlo evaluation.
        eval_batch_size: canvases per evaluation batch.
        eval_seed: picks the fixed evaluation canvases and the Monte-Carlo noise (same for every
            run).
        checkpoint_every: updates between checkpoints (one is also written at the end).
        images: trajectories drawn in each evaluation's TensorBoard image grid.
    """

    preset: str = "custom"
    env_id: str = "ClutteredMNIST-v0"
    canvas_size: int | None = None
    num_distractors: CountRange | None = None
    distractor_size: int | None = None
    glimpse_size: int | None = None
    num_scales: int | None = None
    scale_factor: int | None = None
    num_glimpses: int | None = None
    num_digits: int | None = None
    target: str | None = None
    initial_location: str | None = None
    context_size: int | None = None
    data_dir: str | None = None
    dataset_path: str | None = None
    classes: int | None = None
    channels: int | None = None

    agent: str = "ram"
    hidden: int = 256

    batch_size: int = 128
    updates: int = 100_000
    lr: float = 1e-3
    lr_decay: float = 0.97
    lr_decay_every: int = 1750
    min_lr: float = 1e-4
    max_grad_norm: float | None = None

    init_from: str | None = None
    seed: int = 0
    device: str = "cpu"
    num_threads: int = 0
    log_every: int = 100
    eval_every: int = 10_000
    eval_canvases: int = 2000
    final_eval_canvases: int = 10_000
    mc_samples: int = 10
    eval_batch_size: int = 1000
    eval_seed: int = EVAL_SEED
    checkpoint_every: int = 5000
    images: int = 16
    notes: str = field(default="", metadata={"help": "free text stored with the run"})

    def __new__(cls, *args: Any, **kwargs: Any) -> TrainConfig:
        # TrainConfig(agent=...) builds the family's config (RAMConfig, DRAMConfig, ...).
        if cls is TrainConfig:
            cls = config_class(kwargs.get("agent", "ram"))
        return super().__new__(cls)

    def __post_init__(self) -> None:
        task_name(self.env_id)  # raises on an unknown id
        missing = [name for name in TASK_FIELDS if not hasattr(self, name)]
        if missing:  # a TaskConfig field without its TrainConfig override: a bug here
            raise TypeError(f"TrainConfig lacks the task fields {missing}")
        if self.agent not in AGENTS:
            raise ValueError(f"agent must be one of {AGENTS}, got {self.agent!r}")
        if config_class(self.agent) is not type(self):
            raise ValueError(
                f"agent {self.agent!r} is configured by {config_class(self.agent).__name__}, "
                f"not {type(self).__name__}"
            )
        positive = ("batch_size", "updates", "lr_decay_every", "log_every", "eval_canvases")
        positive += ("final_eval_canvases", "mc_samples", "eval_batch_size", "checkpoint_every")
        positive += ("hidden", "images")
        for name in positive:
            check_int(name, getattr(self, name), minimum=1)
        for name in ("eval_every", "num_threads"):
            check_int(name, getattr(self, name), minimum=0)
        for name in ("canvas_size", "distractor_size", "glimpse_size", "num_scales"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), minimum=1)
        if self.context_size is not None:
            check_int("context_size", self.context_size, minimum=0)
        if self.num_distractors is not None:
            low, high = distractor_range(self.num_distractors)
            if not isinstance(self.num_distractors, int):  # JSON gives a list; keep one form
                self.num_distractors = [low, high]
        check_numbers(self, ("lr", "min_lr", "lr_decay", "max_grad_norm"))
        for name in ("seed", "eval_seed"):
            value = getattr(self, name)
            check_int(name, value, minimum=0)
            if value >= 2**63:
                raise ValueError(f"{name} must be below 2**63, got {value}")
        threads = 4 * (os.cpu_count() or 1)
        if self.num_threads > threads:
            raise ValueError(
                f"num_threads must be at most {threads} (4 per core of this machine), "
                f"got {self.num_threads}"
            )
        if not re.fullmatch(r"cpu|cuda(:\d+)?", str(self.device)):
            raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise ValueError(
                f"max_grad_norm must be > 0 (or unset for no clipping), got {self.max_grad_norm}"
            )
        if "\n" in self.notes or "\r" in self.notes:
            raise ValueError("notes must be one line (the run's command.txt is one line per start)")
        if not 0 < self.min_lr <= self.lr:
            raise ValueError(f"need 0 < min_lr <= lr, got min_lr={self.min_lr}, lr={self.lr}")
        if not 0 < self.lr_decay <= 1:
            raise ValueError(f"lr_decay must be in (0, 1], got {self.lr_decay}")

    @classmethod
    def from_dict(  # type: ignore[override]
        cls, values: dict[str, Any], saved: bool = False
    ) -> TrainConfig:
        """The config of ``values`` (a ``to_dict``, a ``config.json``), of the family its
        ``agent`` names.

        Args:
            values: field values.
            saved: ``values`` come from a file (a checkpoint, a zoo file, a run's
                ``config.json``): fields of another family, which files written before each
                family had its own config hold and no run read, are dropped.

        Raises:
            ValueError: a field of another family (unless ``saved``), or an unknown field.
        """
        target = config_class(values.get("agent", "ram")) if cls is TrainConfig else cls
        own = {f.name for f in dataclasses.fields(target)}
        others = (frozenset().union(*AGENT_FIELDS.values()) - own) & set(values)
        if others and not saved:
            raise ValueError(
                f"{sorted(others)} are not fields of {target.__name__} (agent "
                f"{target.agent!r}; another family's)"
            )
        kept = {k: v for k, v in values.items() if k not in others}
        return super(TrainConfig, target).from_dict(kept)  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready values, without task fields left to the env id (None).
        :meth:`from_dict` restores the defaults of those left out."""
        values = super().to_dict()
        return {k: v for k, v in values.items() if not (k in TASK_FIELDS and v is None)}

    def task_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the task: the env id's settings with this config's overrides."""
        return task_settings(self.env_id, **{name: getattr(self, name) for name in TASK_FIELDS})


@dataclass
class RAMConfig(TrainConfig):
    """RAM's fields (Mnih et al. 2014), over :class:`TrainConfig`'s; DRAM has them too.

    Model:
        core: ``"lstm"`` or ``"rnn"`` (RAM's core type; DRAM's layers are LSTMs).
        glimpse_hidden: units of the glimpse network's first "what" (glimpse) layer.
        location_hidden: units of the glimpse network's first "where" (location) layer.
        location_std: std of the Gaussian location policy, normalised units (image half-width
            is 1).
        reinforce_trains_core: let the REINFORCE gradient into the core and glimpse network
            (default: location network only).

    Loss:
        reinforce_weight, baseline_weight: weights of the REINFORCE and baseline-MSE terms (the
            cross-entropy has weight 1).
        location_loss_weight: initial weight of L-DRAM's supervised location loss (0: off).
        location_loss_half_life: updates over which that weight halves (exponential decay).
        location_labels: fraction of the training examples with location labels (L-DRAM).
    """

    agent: str = "ram"
    core: str = "lstm"
    glimpse_hidden: int = 128
    location_hidden: int = 128
    location_std: float = 0.11
    reinforce_trains_core: bool = False
    reinforce_weight: float = 1.0
    baseline_weight: float = 1.0
    location_loss_weight: float = 0.0
    location_loss_half_life: float = 10_000.0
    location_labels: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("glimpse_hidden", "location_hidden"):
            check_int(name, getattr(self, name), minimum=1)
        check_numbers(
            self, ("location_std", "reinforce_weight", "baseline_weight", "location_loss_weight",
                   "location_loss_half_life", "location_labels"),
        )  # fmt: skip
        if self.core not in CORES:
            raise ValueError(f"core must be one of {CORES}, got {self.core!r}")
        for name in ("reinforce_weight", "baseline_weight"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.location_std > 0:
            raise ValueError(f"location_std must be > 0, got {self.location_std}")
        if not 0.0 <= self.location_labels <= 1.0:
            raise ValueError(f"location_labels must be in [0, 1], got {self.location_labels}")
        if self.location_loss_weight < 0 or not self.location_loss_half_life > 0:
            raise ValueError("need location_loss_weight >= 0 and location_loss_half_life > 0")


@dataclass
class DRAMConfig(RAMConfig):
    """DRAM's fields (Ba et al. 2014), over :class:`RAMConfig`'s.

    Model:
        baseline_trains_core: let the baseline's loss into the top layer and the context
            network (default: the baseline head reads the top state detached).
        glimpse_network, context_layers, dram_channels: DRAM's form
            (:class:`agents.models.dram.DRAMForm`): ``"conv"`` (the paper's multiplicative conv
            glimpse network) or ``"fc"`` (RAM's), 2 or 3 context conv layers, and the channels of
            its conv layers.
    """

    agent: str = "dram"
    baseline_trains_core: bool = False
    glimpse_network: str = "fc"
    context_layers: int = 2
    dram_channels: int = 32

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.glimpse_network not in GLIMPSE_NETWORKS:
            raise ValueError(
                f"glimpse_network must be one of {GLIMPSE_NETWORKS}, got {self.glimpse_network!r}"
            )


@dataclass
class EDRAMConfig(TrainConfig):
    """EDRAM's fields (Ablavatski et al. 2017), over :class:`TrainConfig`'s.

    Model:
        window_size, conv_channels, features, classifier_hidden: EDRAM's attention window
            (pixels), first conv layers' channels, glimpse-vector size and classifier FC layer;
            its LSTMs have ``hidden`` units.

    Loss:
        affine_loss_weight: weight of EDRAM's affine-parameter regression.
    """

    agent: str = "edram"
    window_size: int = 26
    conv_channels: int = 64
    features: int = 1024
    classifier_hidden: int = 1024
    affine_loss_weight: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("window_size", "conv_channels", "features", "classifier_hidden"):
            check_int(name, getattr(self, name), minimum=1)
        check_numbers(self, ("affine_loss_weight",))
        if not self.affine_loss_weight >= 0:
            raise ValueError(f"affine_loss_weight must be >= 0, got {self.affine_loss_weight}")


#: Each agent family's config class.
CONFIG_CLASSES: dict[str, type[TrainConfig]] = {
    "ram": RAMConfig,
    "dram": DRAMConfig,
    "edram": EDRAMConfig,
}
_SHARED = frozenset(f.name for f in dataclasses.fields(TrainConfig))
#: The fields each family adds to :class:`TrainConfig`.
AGENT_FIELDS: dict[str, frozenset[str]] = {
    agent: frozenset(f.name for f in dataclasses.fields(cls)) - _SHARED
    for agent, cls in CONFIG_CLASSES.items()
}


def config_class(agent: str) -> type[TrainConfig]:
    """The config class of the agent family ``agent``."""
    if agent not in CONFIG_CLASSES:
        raise ValueError(f"agent must be one of {AGENTS}, got {agent!r}")
    return CONFIG_CLASSES[agent]


def foreign_fields(agent: str, names: Iterable[str]) -> list[str]:
    """The fields among ``names`` that the agent family ``agent`` does not have."""
    specific = frozenset().union(*AGENT_FIELDS.values())
    return sorted(n for n in names if n in specific and n not in AGENT_FIELDS[agent])


def check_numbers(config: Any, names: Iterable[str]) -> None:
    """Raise ``ValueError`` naming the first of ``names`` that is not a finite number (None is
    allowed for ``max_grad_norm``, no clipping)."""
    for name in names:
        value = getattr(config, name)
        if value is None and name == "max_grad_norm":
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value}")
