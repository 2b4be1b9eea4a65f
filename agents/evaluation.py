"""The one evaluation of every agent family, greedy and Monte-Carlo, on a fixed canvas set.

Each family plugs in how it answers (a :class:`Player`: RAM and DRAM play the public vector env
with their locations, EDRAM and the supervised baselines read the canvas, an SB3 policy steps
its ``VecEnv``); :func:`evaluate` resets the env to the protocol's canvases, reads the answers
from the reset's public ``info``, and counts the errors. The result is an :class:`EvalResult`.

The canvases are episodes ``0 .. n-1`` of one stream key drawn from ``eval_seed`` on the
evaluation split: with ``n = 10,000`` every MNIST test digit (``split="test"``) or every held-out
training digit (``split="valid"``) appears exactly once, each with its own translation and
clutter, and every run (any seed, any agent) is scored on the same canvases.

Everything that decides (evaluation during training, stopping, model selection, tuning) uses
``valid``; ``test`` only produces the final figures.

- Greedy: each glimpse location is the policy's mean.
- Monte-Carlo: ``M`` glimpse paths are sampled per canvas (the same canvas in ``M`` environments)
  and the class probabilities are averaged, as the published replications do. The noise of
  path ``m`` of canvas ``i`` is keyed by ``(eval_seed, i, m)`` (:class:`CanvasNoise`), so a
  figure does not depend on the evaluation batch size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from glimpse_env.envs.vector import GlimpseVectorEnv
from glimpse_env.evaluation import EVAL_SEED, check_canvas_count, evaluation_key, info_answers
from glimpse_env.keyed_random import MC_NOISE_KEY_SALT, Stream, random_normal
from glimpse_env.render import draw_trajectory, image_grid

MODES = ("greedy", "mc")
#: Splits an evaluation may read.
EVAL_SPLITS = ("valid", "test")


@dataclass
class Trajectories:
    """Glimpse paths of a few test episodes, for pictures.

    Attributes:
        canvases: ``(n, H, W)`` uint8.
        locations: ``(n, T, 2)`` normalised (x, y) glimpse centres in visiting order.
        labels, predictions: ``(n,)`` true class and the agent's answer (with several answers
            per episode, strings of the answers in order, e.g. ``"37"``).
        windows: ``(n, T, 6)`` the affine windows ``(a, b, tx, c, d, ty)`` of an agent that looks
            through a spatial transformer (EDRAM), else None (retina squares).
    """

    canvases: np.ndarray
    locations: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray
    windows: np.ndarray | None = None


@dataclass
class EvalResult:
    """Errors on ``total`` canvases of ``split`` with one evaluation ``mode``, and example
    paths."""

    mode: str
    errors: int
    total: int
    examples: Trajectories | None = field(default=None, repr=False)
    split: str = "test"

    @property
    def error_pct(self) -> float:
        """Error in percent."""
        return 100.0 * self.errors / self.total

    def summary(self) -> dict[str, Any]:
        """The ``{"error_pct", "errors", "canvases"}`` a card records for this evaluation."""
        return {
            "error_pct": round(self.error_pct, 2),
            "errors": int(self.errors),
            "canvases": int(self.total),
        }

    def __str__(self) -> str:
        return f"{self.mode} {self.split} error {self.error_pct:.2f}% ({self.errors}/{self.total})"


class CanvasNoise:
    """Location noise keyed by canvas, path and choice, so that a canvas's sampled paths do not
    depend on which other canvases share its batch (Monte-Carlo evaluation).

    The noise of choice ``c`` on path ``m`` of canvas ``i`` is a pure function of ``(key, i, m,
    c)`` (:func:`glimpse_env.keyed_random.random_normal`): any evaluation batch size, or padding
    canvases at the end, give the same paths for the same canvas.

    Args:
        key: the stream key (from ``eval_seed``).
        canvases: ``(N,)`` canvas index of each environment.
        paths: ``(N,)`` which of the canvas's sampled paths each environment plays.
    """

    #: Paths per canvas the counter has room for (canvas * MAX_PATHS + path).
    MAX_PATHS = 1 << 20

    def __init__(self, key: int, canvases: np.ndarray, paths: np.ndarray) -> None:
        canvases = np.asarray(canvases, dtype=np.int64)
        paths = np.asarray(paths, dtype=np.int64)
        if (paths < 0).any() or (paths >= self.MAX_PATHS).any():
            raise ValueError(f"paths must be in [0, {self.MAX_PATHS}), got {paths.min()}..")
        self.key = np.full(canvases.shape, key, dtype=np.uint64)
        self.counters = canvases * self.MAX_PATHS + paths

    def normal(self, choice: int, device: torch.device | str) -> torch.Tensor:
        """``(N, 2)`` float32 standard normal noise of location choice ``choice``."""
        noise = random_normal(
            self.key, self.counters, stream=Stream.LOCATION_NOISE + choice, count=2
        )
        return torch.from_numpy(noise.astype(np.float32)).to(device)


class Player(Protocol):
    """Plays the episodes an env was just reset to; returns ``(logits, locations (N, T, 2))``:
    the answer logits, ``(N, C)`` or ``(N, A, C)`` for ``A`` answers per episode, and the
    normalised glimpse centres in visiting order, optionally followed by the affine windows
    ``(N, T, 6)`` of a spatial-transformer agent (EDRAM).

    ``env`` is a :class:`GlimpseVectorEnv` (attention agents) or anything with the same
    ``reset_to`` (returning the public ``(obs, info)``), ``num_envs``, ``device``, ``config``,
    ``distinct_canvases`` and ``canvases`` (the SB3 stack,
    :class:`agents.sb3.vec_env.SB3Episodes`): one evaluation function scores every agent, on
    the answers in ``info``. ``noise`` keys the location noise of sampled paths."""

    def __call__(
        self,
        env: GlimpseVectorEnv,
        first: tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]],
        sample: bool,
        noise: CanvasNoise,
    ) -> tuple[torch.Tensor, ...]: ...


@torch.no_grad()
def evaluate(
    agent: nn.Module | None,
    env: GlimpseVectorEnv,
    play: Player,
    num_canvases: int,
    mode: str = "greedy",
    mc_samples: int = 10,
    eval_seed: int = EVAL_SEED,
    progress: bool = False,
) -> EvalResult:
    """Score ``agent`` on the first ``num_canvases`` canvases of the env's split.

    Args:
        agent: the model (put in eval mode for the duration), or None (a policy that is no
            module of ours: :func:`agents.policy.evaluate_policy`).
        env: a ``split="valid"`` or ``"test"``, ``output="torch"`` vector env (or another
            episode source with its interface, see :class:`Player`). For ``mode="mc"`` its
            ``num_envs`` must be a multiple of ``mc_samples`` (canvases per batch =
            ``num_envs / mc_samples``).
        play: how the agent answers (e.g.
            :func:`agents.training.objectives.reinforce_player`).
        num_canvases: how many canvases (10,000 = the split's digits once each).
        mode: ``"greedy"`` or ``"mc"``.
        mc_samples: ``M``, paths per canvas in Monte-Carlo mode.
        eval_seed: picks the canvases and the Monte-Carlo noise.
        progress: show a tqdm bar over the canvases.

    Returns:
        The :class:`EvalResult`, with the paths of the first batch's canvases (in Monte-Carlo
        mode the first sampled path of each) as ``examples``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    split = env.config.split
    if split not in EVAL_SPLITS:
        raise ValueError(f"evaluation env must use a split in {EVAL_SPLITS}, got {split!r}")
    check_canvas_count(num_canvases, env.distinct_canvases, split)
    repeats = mc_samples if mode == "mc" else 1
    if env.num_envs % repeats:
        raise ValueError(f"num_envs {env.num_envs} is not a multiple of mc_samples {repeats}")
    per_batch = env.num_envs // repeats
    key = evaluation_key(eval_seed)
    was_training = agent is not None and agent.training
    if agent is not None:
        agent.eval()
    errors, examples = 0, None
    try:
        starts = range(0, num_canvases, per_batch)
        for start in tqdm(starts, desc=f"{mode} eval", unit="batch", disable=not progress):
            ids = np.arange(start, start + per_batch)
            valid = torch.from_numpy(ids < num_canvases).to(env.device)
            first_step = env.reset_to(key, np.repeat(ids, repeats))
            noise = CanvasNoise(
                key ^ MC_NOISE_KEY_SALT,
                np.repeat(ids, repeats),
                np.tile(np.arange(repeats), len(ids)),
            )
            answers = torch.as_tensor(info_answers(first_step[1]), device=env.device)
            answers = answers[::repeats]  # (B, A), from the public info
            # The canvases are read at reset: an env that resets itself on the last step (SB3's
            # VecEnv) already holds the next canvases after play.
            shown = env.canvases[::repeats].clone() if examples is None else None
            logits, locations, *windows = play(env, first_step, mode == "mc", noise)
            logits = logits.to(env.device)
            if logits.dim() == 2:  # one answer per episode
                logits = logits.unsqueeze(1)
            probs = logits.softmax(-1)
            probs = probs.view(per_batch, repeats, *probs.shape[1:]).mean(1)
            predictions = probs.argmax(-1)  # (B, A)
            wrong = (predictions != answers).any(1)  # an episode counts once, all answers right
            errors += int((wrong & valid).sum())
            labels, predictions = _flat_answers(answers), _flat_answers(predictions)
            if examples is None:
                take = slice(None, None, repeats)
                assert shown is not None
                examples = Trajectories(
                    canvases=shown.cpu().numpy(),
                    locations=locations[take].cpu().numpy(),
                    labels=np.asarray(labels.cpu() if torch.is_tensor(labels) else labels),
                    predictions=np.asarray(
                        predictions.cpu() if torch.is_tensor(predictions) else predictions
                    ),
                    windows=windows[0][take].cpu().numpy() if windows else None,
                )
    finally:
        if agent is not None:
            agent.train(was_training)
    return EvalResult(mode, errors, num_canvases, examples, split)


def _flat_answers(answers: torch.Tensor) -> torch.Tensor | np.ndarray:
    """``(B, 1)`` -> ``(B,)`` tensor; ``(B, A)`` -> ``(B,)`` strings like ``"37"`` (captions)."""
    if answers.shape[1] == 1:
        return answers[:, 0]
    return np.array(["".join(str(int(v)) for v in row) for row in answers.cpu()])


def trajectory_grid(
    examples: Trajectories,
    glimpse_size: int,
    num_scales: int,
    scale_factor: int = 2,
    count: int = 16,
    columns: int = 4,
) -> np.ndarray:
    """An ``(H, W, 3)`` uint8 grid of the first ``count`` glimpse paths of ``examples``.

    Each cell is the canvas with the path of glimpse centres and the squares (or, for EDRAM, the
    affine window) of the last glimpse, captioned ``"label -> answer"``.
    """
    count = min(count, len(examples.canvases))
    cells = [
        draw_trajectory(
            examples.canvases[i],
            examples.locations[i],
            glimpse_size,
            num_scales,
            scale_factor,
            scale=3,
            caption=f"{examples.labels[i]} -> {examples.predictions[i]}",
            windows=None if examples.windows is None else examples.windows[i],
        )
        for i in range(count)
    ]
    return image_grid(cells, columns=columns)
