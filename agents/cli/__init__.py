"""The command lines, the top layer with :mod:`agents.sweep`: :mod:`.attention` (RAM, DRAM,
EDRAM: ``train/ram_agent.py`` ...), :mod:`.supervised` (``train/supervised_baseline.py``) and
:mod:`.sb3` (``train/ppo_baseline.py``). Each parses flags into its family's config and calls
into the family's package; they may import every layer below, and nothing imports them.
"""
