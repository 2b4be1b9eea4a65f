"""``predict`` for models that read the whole canvas: the supervised FC/CNN baselines and EDRAM.

They see the canvas, not glimpses, so they play an env wrapped in
:class:`glimpse_env.envs.wrappers.CanvasObservation` (single env) or
:class:`glimpse_env.envs.wrappers.VectorCanvasObservation` (vector env), which adds
``obs["canvas"]``. At the first step of an episode :class:`CanvasPolicy` runs the model once on
the canvas; every step it then returns the env action: the next glimpse location (EDRAM's
attention centres; the canvas centre for a classifier, which does not look) and the label of the
answer the env scores next. So an episode's answers are the model's answers on that canvas, and
the error over the evaluation canvases is the error its ``evaluate`` reports.

    from glimpse_env.envs.wrappers import CanvasObservation
    agent = agents.load("runs/<cnn run>/best.pt")
    env = CanvasObservation(gym.make("ClutteredMNIST-v0", split="test"))
    obs, info = env.reset(options={"evaluation_canvas": 0})
    action, state = agent.predict(obs)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from agents.policy import Policy
from glimpse_env.envs.task import TaskConfig

#: ``canvases (N, H, W) or (N, C, H, W) uint8 -> (labels (N, A), centres (N, T, 2) or None)``:
#: a model's answers on whole canvases and, for a model that attends, its glimpse centres per
#: step.
Answerer = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]


@dataclass
class CanvasState:
    """What :class:`CanvasPolicy` keeps between steps: the episode's answers and centres."""

    labels: torch.Tensor
    centres: torch.Tensor | None


class CanvasPolicy(Policy):
    """The policy of a whole-canvas model (:class:`agents.policy.Policy`).

    Args:
        answer: the model's answers on a batch of canvases (:data:`Answerer`).
        task: the task played (its episode length and the steps that score an answer).
        device: where the model runs.
    """

    #: The observation must hold ``canvas`` (the wrappers above add it).
    observes_canvas = True

    def __init__(self, answer: Answerer, task: TaskConfig, device: torch.device | str) -> None:
        self.answer, self.task, self.device = answer, task, torch.device(device)
        scored = sorted(task.answer_steps)
        # The answer read at step number s (1-based): the next scored one at or after s.
        self._answer_index = np.array(
            [min(sum(1 for a in scored if a < s), len(scored) - 1)
             for s in range(1, task.episode_length + 1)]
        )  # fmt: skip

    def _predict(
        self,
        observation: dict[str, torch.Tensor],
        state: CanvasState | None,
        episode_start: torch.Tensor,
        deterministic: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, CanvasState]:
        """Answers of new episodes from their canvases, then this step's location and label;
        ``deterministic`` is accepted for SB3's signature (these models are deterministic)."""
        canvas = observation["canvas"]
        count = canvas.shape[0]
        if state is None or bool(episode_start.any()):
            labels, centres = self.answer(canvas)
            if state is not None:
                keep = ~episode_start
                labels = torch.where(keep[:, None], state.labels, labels)
                if centres is not None and state.centres is not None:
                    centres = torch.where(keep[:, None, None], state.centres, centres)
            state = CanvasState(labels, centres)
        step = observation["step"].reshape(count)
        taken = (
            (step * self.task.episode_length).round().long().clamp(0, self.task.episode_length - 1)
        )
        index = torch.as_tensor(self._answer_index, device=self.device)[taken]
        label = state.labels.gather(1, index[:, None])[:, 0]
        if state.centres is None:
            location = torch.zeros(count, 2, device=self.device)
        else:
            upcoming = (taken + 1).clamp(max=state.centres.shape[1] - 1)
            location = state.centres[torch.arange(count, device=self.device), upcoming]
        return location, label, state
