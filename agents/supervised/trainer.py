"""Training of the supervised full-canvas baselines (:mod:`agents.supervised.models`).

One update: the next ``batch_size`` training canvases (episode ``u`` of each keyed stream, the
same scheme as the attention agents' trainer), cross-entropy summed over a canvas's answers and
averaged over the batch, one Adam step; the learning rate follows a cosine from ``lr`` to
``lr * final_lr_fraction`` over ``updates``.

The loop, the run directory's files and ``final.json`` are every trainer's (:mod:`agents.runs`);
the final evaluation scores ``best.pt`` (selection on ``valid``) on ``valid`` and ``test``. Update
``u`` always trains on the same canvases and the model's initialisation comes from the seed, so a
resumed run continues as the uninterrupted one would have.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from agents.evaluation import EvalResult, Player, evaluate
from agents.runs.checkpoint import load_checkpoint, save_checkpoint
from agents.runs.directory import BEST_FILE
from agents.runs.loop import TrainingLoop
from agents.supervised.config import RESUME_OVERRIDES, SupervisedConfig, cosine_lr, ram_parameters
from agents.supervised.data import Canvases, answers_of, canvas_inputs
from agents.supervised.models import build_baseline, build_sized
from glimpse_env.envs.vector import GlimpseVectorEnv
from glimpse_env.keyed_random import seeded_keys

FORMAT = "glimpse-env-supervised-checkpoint-v1"
#: Keys every supervised checkpoint holds.
REQUIRED_KEYS = (
    "format", "config", "sizes", "matched_parameters", "matched_to", "update", "wall_clock_s",
    "best_valid", "model", "optimizer",
)  # fmt: skip


class SupervisedTrainer(TrainingLoop):
    """Trains one supervised baseline; see the module docstring.

    Args:
        config: the run's configuration.
        run_dir: where the run's files go.
        progress: show a tqdm bar.
    """

    family = "supervised"

    def __init__(self, config: SupervisedConfig, run_dir: str | Path, progress: bool = True):
        super().__init__(run_dir, progress)
        self.config = config
        if config.num_threads:
            torch.set_num_threads(config.num_threads)
        self.device = torch.device(config.device)
        self.train_canvases = Canvases(config.task("train"), self.device)
        self._eval_canvases: dict[str, Canvases] = {}
        self.answers = answers_of(self.train_canvases.task)
        if config.matched_parameters is None:
            channels = self.train_canvases.shape[0]
            own = config.dataset_path is not None
            self.matched_parameters, self.matched_to = ram_parameters(
                config.env_id, self.answers.classes if own else None, channels if own else None
            )
        else:
            self.matched_parameters, self.matched_to = config.matched_parameters, "given"
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.model, self.sizes = build_baseline(
                config.model, self.train_canvases.shape, self.answers, self.matched_parameters
            )
        self.model.to(self.device)
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        self.keys = seeded_keys(config.seed, config.batch_size)

    # -- checkpoints -------------------------------------------------------------------------

    def save_checkpoint(self, path: Path | None = None) -> Path:
        """Write the model, optimiser and progress to ``path`` (default ``checkpoint.pt``)."""
        state = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        record = {
            "config": self.config.to_dict(),
            "sizes": dict(self.sizes),
            "canvas_shape": list(self.train_canvases.shape),
            "matched_parameters": self.matched_parameters,
            "matched_to": self.matched_to,
            "update": self.update,
            "wall_clock_s": self._clock(),
            "best_valid": dict(self.best_valid),
            "train_keys": self.keys.tolist(),
            "model": state,
            "optimizer": self.optimizer.state_dict(),
        }
        return save_checkpoint(path or self.checkpoint_path(), record, FORMAT, REQUIRED_KEYS)

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, progress: bool = True, **overrides: Any
    ) -> SupervisedTrainer:
        """Resume the run of checkpoint ``path``; ``overrides`` may set
        :data:`RESUME_OVERRIDES`."""
        payload = load_supervised_checkpoint(path)
        if "train_keys" not in payload:
            raise ValueError(
                f"{path} has no 'train_keys': it was written by an older glimpse-env and cannot "
                "be resumed exactly; evaluate it with --eval or publish it with --card"
            )
        rejected = sorted(set(overrides) - set(RESUME_OVERRIDES))
        if rejected:
            raise ValueError(f"cannot change {rejected} when resuming; allowed: {RESUME_OVERRIDES}")
        config = SupervisedConfig.from_dict({**payload["config"], **overrides})
        trainer = cls(config, Path(path).parent, progress)
        if trainer.sizes != payload["sizes"]:
            raise ValueError(f"{path}: recorded sizes {payload['sizes']} != {trainer.sizes}")
        trainer.model.load_state_dict(payload["model"])
        trainer.optimizer.load_state_dict(payload["optimizer"])
        trainer.update = int(payload["update"])
        trainer.wall_clock_s = float(payload["wall_clock_s"])
        trainer.best_valid = dict(payload["best_valid"])
        trainer.keys = np.asarray(payload["train_keys"], dtype=np.uint64)
        trainer.resumed_from = trainer.update
        return trainer

    # -- training ----------------------------------------------------------------------------

    def train_step(self) -> dict[str, float]:
        """One update on the next batch of training canvases; returns its scalars."""
        lr = cosine_lr(self.config, self.update)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        images, answers = self.train_canvases.training_batch(self.keys, self.update)
        self.model.train()
        logits = self.model(images)  # (N, A, C)
        loss = (
            nn.functional.cross_entropy(logits.flatten(0, 1), answers.flatten(), reduction="none")
            .view_as(answers)
            .sum(1)
            .mean()
        )
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {loss.item()} at update {self.update}")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.update += 1
        right = (logits.argmax(-1) == answers).all(1).float().mean()
        return {"train/loss": loss.item(), "train/accuracy": right.item(), "train/lr": lr}

    def canvases(self, split: str) -> Canvases:
        """The evaluation canvases of ``split`` (``valid`` or ``test``), made once."""
        if split not in ("valid", "test"):
            raise ValueError(f"evaluation split must be 'valid' or 'test', got {split!r}")
        if split not in self._eval_canvases:
            self._eval_canvases[split] = Canvases(self.config.task(split), self.device)
        return self._eval_canvases[split]

    def evaluate(self, split: str, num_canvases: int, progress: bool = False) -> EvalResult:
        """Error of the current model on the fixed canvases ``0 .. n-1`` of ``split``."""
        return score(
            self.model,
            self.canvases(split),
            num_canvases,
            self.config.eval_batch_size,
            self.config.eval_seed,
            progress,
        )

    # -- what the shared loop asks for -------------------------------------------------------

    @property
    def name(self) -> str:
        return self.config.name

    def validate(self) -> tuple[EvalResult, np.ndarray | None]:
        return self.evaluate("valid", self.config.eval_canvases), None

    def final_scores(self) -> tuple[str, list[EvalResult]]:
        """``best.pt``'s errors on ``valid`` and ``test`` (a deterministic classifier: greedy
        only)."""
        config = self.config
        best = load_model(self.run_dir / BEST_FILE, self.device)
        valid, test = (
            score(best.model, self.canvases(split), config.final_eval_canvases,
                  config.eval_batch_size, config.eval_seed, self.progress)
            for split in ("valid", "test")
        )  # fmt: skip
        return BEST_FILE, [valid, test]

    def final_fields(self) -> dict[str, Any]:
        return {
            "agent": self.config.model,
            "env_id": self.config.env_id,
            "env_steps": None,
            "eval_seed": self.config.eval_seed,
        }


def classifier_player(model: nn.Module) -> Player:
    """The :class:`agents.evaluation.Player` of a whole-canvas classifier: its answers on the
    canvases the env was reset to (it does not look: its path is the canvas centre)."""

    def play(env, first, sample, noise):
        logits = model(canvas_inputs(env.canvases))  # (N, A, C)
        return logits, torch.zeros(env.num_envs, 1, 2, device=env.device)

    return play


@torch.no_grad()
def score(
    model: nn.Module,
    canvases: Canvases,
    num_canvases: int,
    batch_size: int,
    eval_seed: int,
    progress: bool = False,
) -> EvalResult:
    """Errors of ``model`` on the fixed evaluation canvases of ``canvases.task``, by
    :func:`agents.evaluation.evaluate` (every family's evaluation): a canvas counts as wrong
    unless every answer is right. ``mode`` is ``"deterministic"`` (one score)."""
    task = dataclasses.asdict(canvases.task)
    env = GlimpseVectorEnv(
        min(batch_size, num_canvases), output="torch", device=canvases.device, **task
    )
    result = evaluate(
        model, env, classifier_player(model), num_canvases, eval_seed=eval_seed, progress=progress
    )
    return dataclasses.replace(result, mode="deterministic", examples=None)


def load_supervised_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a supervised checkpoint safely (``weights_only``) and verify its weights."""
    return load_checkpoint(
        path, format=FORMAT, required=REQUIRED_KEYS, what="supervised baseline checkpoint"
    )


@dataclass
class LoadedBaseline:
    """A baseline read back from a checkpoint (in eval mode)."""

    model: nn.Module
    config: SupervisedConfig
    sizes: dict[str, int]
    sha256: str
    update: int
    wall_clock_s: float
    matched_parameters: int
    matched_to: str


def canvas_shape_of(value: Any, path: str | Path) -> tuple[int, int, int]:
    """The ``(C, H, W)`` recorded in checkpoint ``path``, checked."""
    if (
        not isinstance(value, list | tuple)
        or len(value) != 3
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        raise ValueError(
            f"{path}: canvas_shape must be three positive integers (C, H, W), got {value!r}"
        )
    return (value[0], value[1], value[2])


def load_model(
    path: str | Path, device: str | torch.device = "cpu", **changes: Any
) -> LoadedBaseline:
    """Rebuild the baseline of checkpoint ``path`` with its weights; ``changes`` may set
    evaluation fields (``data_dir``, ``eval_batch_size``, ``device``...)."""
    payload = load_supervised_checkpoint(path)
    config = SupervisedConfig.from_dict({**payload["config"], **changes})
    task = config.task("train")
    if "canvas_shape" in payload:
        shape = canvas_shape_of(payload["canvas_shape"], path)
    else:  # checkpoints written before the shape was recorded: ask the canvases
        shape = Canvases(task).shape
    model = build_sized(config.model, shape, answers_of(task), payload["sizes"])
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as error:
        raise ValueError(f"{path}: the weights do not fit the recorded sizes: {error}") from None
    model.to(device).eval()
    return LoadedBaseline(
        model, config, dict(payload["sizes"]), payload["model_sha256"], int(payload["update"]),
        float(payload["wall_clock_s"]), int(payload["matched_parameters"]),
        str(payload["matched_to"]),
    )  # fmt: skip
