"""The networks: RAM (:mod:`.ram`), DRAM (:mod:`.dram`), EDRAM (:mod:`.edram`).

The bottom layer with :mod:`agents.policy` and :mod:`agents.evaluation`: imports
:mod:`glimpse_env` only. The builder from a training config to a network is
:mod:`agents.training.registry`.
"""
