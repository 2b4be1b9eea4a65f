"""Train a supervised full-canvas baseline (FC or CNN) on a glimpse task's canvases.

    python train/supervised_baseline.py --env-id ClutteredMNIST-v0 --model cnn      # matched to RAM
    python train/supervised_baseline.py --env-id TranslatedMNIST-v0 --model cnn-large
    python train/supervised_baseline.py --resume runs/<run>
    python train/supervised_baseline.py --eval runs/<run>/best.pt
    python train/supervised_baseline.py --card runs/<run>/best.pt --name cnn-cluttered60
    tensorboard --logdir runs

Run ``python train/supervised_baseline.py --help`` for every flag.
"""

import sys

from agents.cli.supervised import main

if __name__ == "__main__":
    sys.exit(main())
