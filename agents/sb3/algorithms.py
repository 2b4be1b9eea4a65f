"""The SB3 algorithm of a baseline and the ``VecEnv`` stack it steps: :func:`make_vec_env`
(the adapter, ``VecMonitor`` and, for PPO, ``VecFrameStack``) and :func:`make_model`."""

from __future__ import annotations

from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecFrameStack, VecMonitor

from agents.sb3.config import BaselineConfig, preset_hyper
from agents.sb3.features import resolve_policy_kwargs
from agents.sb3.scored_steps import SWITCH, ScoredStepLstmPolicy, ScoredStepPolicy
from agents.sb3.vec_env import GlimpseSB3VecEnv
from glimpse_env.envs import task_of

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
