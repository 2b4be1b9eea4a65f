"""Hyper-parameter sweeps on Ray Tune (``train/sweep.py``): the search space
(:mod:`.space`), one trial (:mod:`.trial`) and the command line (:mod:`.cli`).

Ray is an optional dependency (``pip install -e ".[sweep]"``); only :mod:`.cli` and
:func:`.trial.run_trial` import it.
"""
