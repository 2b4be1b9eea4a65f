"""The evaluation protocol: which canvases every published figure is measured on.

A figure of this project (a zoo card, a baseline card, a paper-table row) is an error on
canvases ``0 .. n-1`` of one fixed stream of a split (``"test"`` for reported figures,
``"valid"`` for everything that decides). The stream's key comes from :data:`EVAL_SEED`; with
``n = 10,000`` every digit of the split appears exactly once, each with its own position and
clutter. To compare your own policy with the zoo, score it on the same canvases:

    >>> import gymnasium as gym
    >>> import glimpse_env
    >>> env = gym.make("ClutteredMNIST-v0", split="test")
    >>> obs, info = env.reset(options={"evaluation_canvas": 2})  # canvas 2 of the protocol
    >>> venv = gym.make_vec("ClutteredMNIST-v0", num_envs=4, split="test")
    >>> obs_v, info_v = venv.reset(options={"evaluation_canvases": [0, 1, 2, 3]})
    >>> bool((obs_v["glimpse"][2] == obs["glimpse"]).all())
    True
    >>> int(info_v["label"][2]) == info["label"]
    True

``reset(seed=20140624)`` does **not** give these canvases: a seed keys a training-style stream
per environment (the vector env's environment ``i`` gets its own key), so only a number
measured with ``evaluation_canvas`` / ``evaluation_canvases`` is comparable with the cards.
Counting an episode as right when every label it names is right, the error is the share of
canvases with at least one wrong answer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glimpse_env.keyed_random import key_from_generator

#: The seed of the fixed evaluation canvases of every published figure (the RAM paper's
#: arXiv date).
EVAL_SEED = 20140624


def evaluation_key(eval_seed: int = EVAL_SEED) -> int:
    """The stream key whose episodes ``0, 1, 2, ...`` are the evaluation canvases of
    ``eval_seed`` (the same key on every split; the split picks the digits)."""
    if isinstance(eval_seed, bool) or not isinstance(eval_seed, int | np.integer):
        raise ValueError(f"eval_seed must be an integer, got {eval_seed!r}")
    if eval_seed < 0:
        raise ValueError(f"eval_seed must be >= 0, got {eval_seed}")
    return key_from_generator(np.random.default_rng(int(eval_seed)))


def evaluation_options(options: dict | None, count: int | None) -> tuple[int, np.ndarray] | None:
    """The ``(key, canvas indices)`` a ``reset(options=...)`` asks for, or None.

    Args:
        options: the reset's options; ``"evaluation_canvas"`` (single env) or
            ``"evaluation_canvases"`` (vector env, one index per environment), and optionally
            ``"eval_seed"`` (default :data:`EVAL_SEED`).
        count: None for the single env, else the vector env's ``num_envs``.

    Raises:
        ValueError: ``eval_seed`` without the indices, a wrong number of indices, negative
            indices (the envs refuse options they do not know before this is called).
    """
    if not options:
        return None
    name = "evaluation_canvas" if count is None else "evaluation_canvases"
    if name not in options:
        if "eval_seed" in options:
            raise ValueError(f"'eval_seed' needs {name!r} in the reset options")
        return None
    indices = np.asarray(options[name])
    if not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(f"{name} must be integer canvas indices, got {options[name]!r}")
    indices = indices.astype(np.int64).reshape(-1)
    expected = 1 if count is None else count
    if indices.shape != (expected,):
        raise ValueError(f"{name} needs {expected} index(es), one per environment, got {indices}")
    if (indices < 0).any():
        raise ValueError(f"{name} must be >= 0, got {indices.min()}")
    return evaluation_key(options.get("eval_seed", EVAL_SEED)), indices


def info_answers(info: dict) -> Any:
    """The answers an episode is scored on, from a reset's ``info``: ``(N, A)`` (``(A,)`` for
    the single env), the same type as ``info``'s entries. One digit: ``label``; several:
    ``labels`` in reading order; the sum task: ``label`` (the sum)."""
    if "label" in info:
        label = info["label"]
        return label[..., None] if hasattr(label, "ndim") else np.asarray([label])
    if "labels" in info:
        return info["labels"]
    raise ValueError(f"info holds no 'label' or 'labels' (keys: {sorted(info)})")


def check_canvas_count(num_canvases: int, distinct: int | None, split: str) -> None:
    """Refuse to score more evaluation canvases than the split has distinct ones (a dataset
    file's rows): the extra canvases would repeat rows and count them twice.

    Args:
        num_canvases: canvases asked for.
        distinct: the split's distinct canvases (None: generated canvases, all distinct).
        split: its name, for the message.

    Raises:
        ValueError: ``num_canvases > distinct``.
    """
    if distinct is not None and num_canvases > distinct:
        raise ValueError(
            f"the {split!r} split has {distinct} distinct canvases; scoring {num_canvases} would "
            f"count {num_canvases - distinct} of them twice: ask for at most {distinct}"
        )
