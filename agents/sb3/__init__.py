"""Stable-Baselines3 baselines on the glimpse task: the SB3 ``VecEnv`` adapter over the native
vector env (:mod:`.vec_env`), the glimpse feature extractor (:mod:`.features`), RecurrentPPO /
PPO runs (:mod:`.baselines`) and their command line (:mod:`.cli`).

The only package that imports stable-baselines3 and sb3-contrib. May import :mod:`glimpse_env`,
:mod:`agents.models` and :mod:`agents.training`.
"""
