"""Training machinery of the attention agents: configuration and presets (:mod:`.config`), the
trainer (:mod:`.trainer`), objectives (:mod:`.objectives`), rollout and losses, checkpoints,
run logs, evaluation (:mod:`.evaluate`, :mod:`.scorer`) and the command line (:mod:`.cli`).

May import :mod:`glimpse_env`, :mod:`agents.models` and :mod:`agents.weights`; never
stable-baselines3 (that is :mod:`agents.sb3`).
"""
