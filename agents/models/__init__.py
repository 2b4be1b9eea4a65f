"""The networks: RAM (:mod:`.ram`), DRAM (:mod:`.dram`), EDRAM (:mod:`.edram`), and the registry
from ``config.agent`` to a builder (:mod:`.registry`).

May import :mod:`glimpse_env` (sensors, constants) and :mod:`agents.training.config`; never the
training loop, the SB3 code or the zoo.
"""
