"""Train the Deep Recurrent Attention Model (Ba et al. 2014) on a glimpse task.

    python train/dram_agent.py                                   # dram-cluttered60-6g on CPU
    python train/dram_agent.py --preset dram-cluttered100-8g --device cuda
    python train/dram_agent.py --resume runs/<run>                # continue after Ctrl-C
    python train/dram_agent.py --eval runs/<run>/checkpoint.pt    # test error only
    tensorboard --logdir runs

Run ``python train/dram_agent.py --help`` for every flag; presets are in
``agents/training/config.py``.
"""

import sys

from agents.cli.attention import main

if __name__ == "__main__":
    sys.exit(main(agent="dram", default_preset="dram-cluttered60-6g"))
