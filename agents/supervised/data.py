"""Whole canvases and their answers for the supervised baselines, from the glimpse tasks.

The canvases are the environments' own: a canvas is a pure function of (stream key, episode
index) (:class:`glimpse_env.envs.canvases.GeneratedCanvases`), so

- training batch ``u`` is episode ``u`` of ``batch_size`` keyed streams, as for the attention
  agents' trainer: fresh canvases every update, from the ``train`` split's digits;
- evaluation reads episodes ``0 .. n-1`` of the stream that
  :func:`glimpse_env.evaluation.evaluation_key` picks from ``eval_seed``: the very canvases
  every attention agent is scored on.
"""

from __future__ import annotations

import numpy as np
import torch

from agents.supervised.models import Answers
from glimpse_env.envs.canvases import make_canvas_source
from glimpse_env.envs.task import TaskConfig, task_answers
from glimpse_env.evaluation import evaluation_key


def answers_of(task: TaskConfig) -> Answers:
    """How many answers a canvas of ``task`` needs, and of how many classes."""
    return Answers(task.answers_per_episode, task.num_classes)


def canvas_inputs(canvases: torch.Tensor) -> torch.Tensor:
    """uint8 canvases ``(N, H, W)`` or ``(N, C, H, W)`` -> ``(N, C, H, W)`` float32 in [0, 1]:
    the baselines' input."""
    images = canvases.to(torch.float32).div_(255.0)
    return images.unsqueeze(1) if images.ndim == 3 else images


class Canvases:
    """Canvases of one task and split as network inputs.

    Args:
        task: the task (its ``split`` decides the digits).
        device: where the tensors are made.
    """

    def __init__(self, task: TaskConfig, device: torch.device | str = "cpu") -> None:
        self.task = task
        self.device = torch.device(device)
        self.source = make_canvas_source(task, self.device)
        #: ``(C, H, W)``: channels and pixels of one canvas.
        self.shape = (self.source.channels, self.source.height, self.source.width)

    def batch(self, keys: np.ndarray, episodes: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Canvases ``episodes[i]`` of streams ``keys[i]``.

        Returns:
            ``(images, answers)``: ``(N, C, H, W)`` float32 in [0, 1] and ``(N, A)`` int64, the
            digits in reading order, or their sum for ``target="sum"``.
        """
        batch = self.source.generate(np.asarray(keys, np.uint64), np.asarray(episodes, np.int64))
        images = canvas_inputs(batch.images)
        return images, task_answers(batch.labels, self.task.target)

    def training_batch(self, keys: np.ndarray, update: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch of training update ``update``: episode ``update`` of every stream."""
        return self.batch(keys, np.full(len(keys), update, dtype=np.int64))

    def evaluation_batches(self, num_canvases: int, batch_size: int, eval_seed: int):
        """Yield ``(images, answers)`` over the fixed evaluation canvases ``0 .. n-1``."""
        key = evaluation_key(eval_seed)
        for start in range(0, num_canvases, batch_size):
            episodes = np.arange(start, min(start + batch_size, num_canvases))
            yield self.batch(np.full(len(episodes), key, dtype=np.uint64), episodes)
