"""Reference agents built on :mod:`glimpse_env`.

- :mod:`agents.models`: the networks (RAM, DRAM, EDRAM) and the registry name -> builder;
- :mod:`agents.training`: trainer, objectives, rollout, losses, checkpoints, run log,
  configuration and presets, command line, evaluation;
- :mod:`agents.sb3`: the SB3 adapter, feature extractor and PPO / RecurrentPPO baselines (the
  only place that imports stable-baselines3);
- :mod:`agents.zoo` (load a trained model by name), :mod:`agents.zoo_card` (publish one) and
  :mod:`agents.weights` (safe loading, weight fingerprints).

``agents`` imports :mod:`glimpse_env`, never the reverse.
"""
