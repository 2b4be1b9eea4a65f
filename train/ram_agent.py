"""Train the Recurrent Attention Model (Mnih et al. 2014) on a glimpse task.

    python train/ram_agent.py                                   # ram-cluttered60-6g on CPU
    python train/ram_agent.py --preset ram-cluttered60-8g --device cuda
    python train/ram_agent.py --resume runs/<run>                # continue after Ctrl-C
    python train/ram_agent.py --eval runs/<run>/checkpoint.pt    # test error only
    tensorboard --logdir runs

Run ``python train/ram_agent.py --help`` for every flag; presets are in
``agents/training/config.py``.
"""

import sys

from agents.cli.attention import main

if __name__ == "__main__":
    sys.exit(main(agent="ram", default_preset="ram-cluttered60-6g"))
