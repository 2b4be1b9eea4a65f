"""Hyper-parameter sweeps on Ray Tune, locally or on a Ray cluster.

    python train/sweep.py --agent ram --preset ram-cluttered60-6g \\
        --space 'location_std=loguniform(0.05,0.3)' --space 'lr=loguniform(3e-4,3e-3)' \\
        --num-samples 12 --updates 3000

See ``python train/sweep.py --help`` and :mod:`agents.sweep.cli`.
"""

import sys

from agents.sweep.cli import main

if __name__ == "__main__":
    sys.exit(main())
