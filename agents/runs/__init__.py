"""What every trainer shares: the run directory, its loop, its log, checkpoints and results.

A run directory (``runs/<name>-<time>/``) holds, for every family of agent:

- ``config.json``: the resolved configuration (only the fields that apply to the agent);
- ``command.txt``: every command line that started or resumed the run;
- ``checkpoint.pt`` (SB3: ``model.zip``): the latest training state, written atomically;
- ``best.pt`` (SB3: ``best.zip``): the weights of the lowest periodic validation error;
- ``metrics.jsonl`` and TensorBoard events (:mod:`agents.runs.log`);
- ``lineage.json`` when warm-started from other weights;
- ``final.json`` once finished (:mod:`agents.runs.final`, one schema for every family).

Modules: :mod:`~agents.runs.directory` (names, new directories, ``--resume``),
:mod:`~agents.runs.loop` (the loop), :mod:`~agents.runs.log`, :mod:`~agents.runs.checkpoint`,
:mod:`~agents.runs.final`.
"""
