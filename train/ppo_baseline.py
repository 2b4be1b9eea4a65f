"""Train an SB3 baseline (RecurrentPPO or frame-stacked PPO) on a glimpse task.

    python train/ppo_baseline.py --algo recurrent-ppo --env-id ClutteredMNIST-v0 --timesteps 2000000
    python train/ppo_baseline.py --eval runs/<run>/model.zip

The same as the console command ``glimpse-ppo``; ``--help`` lists the flags
(:mod:`agents.cli.sb3`).
"""

import sys

from agents.cli.sb3 import main

if __name__ == "__main__":
    sys.exit(main())
