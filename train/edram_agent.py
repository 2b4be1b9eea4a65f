"""Train the Enriched Deep Recurrent Attention Model (Ablavatski et al. 2017) on a glimpse task.

    python train/edram_agent.py                                   # edram-cluttered100-small on CPU
    python train/edram_agent.py --preset edram-cluttered100 --device cuda --dataset cluttered.hdf5
    python train/edram_agent.py --resume runs/<run>                # continue after Ctrl-C
    python train/edram_agent.py --eval runs/<run>/checkpoint.pt    # test error only
    tensorboard --logdir runs

Run ``python train/edram_agent.py --help`` for every flag; presets are in
``agents/training/config.py``.
"""

import sys

from agents.cli.attention import main

if __name__ == "__main__":
    sys.exit(main(agent="edram", default_preset="edram-cluttered100-small"))
