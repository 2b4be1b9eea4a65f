"""A colour glimpse task made from MNIST, with no download: the worked example of own images.

    python examples/colour_mnist.py data/colour-mnist.hdf5
    python train/ram_agent.py --preset ram-colour-mnist --dataset-path data/colour-mnist.hdf5
    python examples/render_agent.py runs/<run>/checkpoint.pt --out colour.gif

Each canvas (48x48, RGB) holds one MNIST digit drawn in a random hue, four 8x8 patches cut from
other coloured digits of the same split (the cluttered recipe), on a background of a random
dark colour with pixel noise. The hue says nothing about the class: colour is a distraction
the agent has to see through, and the clutter is coloured like the digits. Digits come from the
usual splits (``train``: MNIST training digits 0-49,999, ``valid``: 50,000-59,999, ``test``: the
test digits), so the figures are on unseen digits.

The canvases are written once as a dataset file (:func:`glimpse_env.data.hdf5.write_dataset`),
which ``train/ram_agent.py --dataset-path`` serves like any other file.
"""

from __future__ import annotations

import argparse
import colorsys
from pathlib import Path

import numpy as np

from glimpse_env.data.canvas import CanvasGenerator
from glimpse_env.data.hdf5 import write_dataset
from glimpse_env.data.mnist import load_mnist
from glimpse_env.keyed_random import key_from_generator

CANVAS_SIZE = 48


def coloured_digits(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``(M, 28, 28)`` grey digits -> ``(M, 3, 28, 28)`` uint8, each in one random bright hue."""
    hues = rng.uniform(0.0, 1.0, len(images))
    colours = np.array([colorsys.hsv_to_rgb(h, 0.9, 1.0) for h in hues], np.float32)  # (M, 3)
    return (images[:, None].astype(np.float32) * colours[:, :, None, None] + 0.5).astype(np.uint8)


def backgrounds(count: int, rng: np.random.Generator) -> np.ndarray:
    """``(count, 3, 48, 48)`` uint8: a dark random colour per canvas plus pixel noise."""
    base = rng.integers(0, 70, (count, 3, 1, 1))
    noise = rng.integers(0, 40, (count, 3, CANVAS_SIZE, CANVAS_SIZE))
    return (base + noise).astype(np.uint8)


def colour_split(split: str, count: int, seed: int, data_dir: str | None = None) -> tuple:
    """``(canvases (count, 48, 48, 3), labels (count,), boxes (count, 4))`` of one split."""
    rng = np.random.default_rng([seed, ("train", "valid", "test").index(split)])
    mnist = load_mnist(split, data_dir)
    objects = coloured_digits(mnist.images, rng)
    generator = CanvasGenerator(objects, mnist.labels, CANVAS_SIZE, 4, 8)
    key = key_from_generator(rng)
    batch = generator.generate(np.full(count, key, np.uint64), np.arange(count))
    canvases = np.maximum(batch.images.numpy(), backgrounds(count, rng))  # digit over background
    return np.moveaxis(canvases, 1, -1), batch.labels.numpy()[:, 0], batch.bboxes.numpy()[:, 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="the .hdf5 file to write")
    parser.add_argument("--train", type=int, default=40_000, help="training canvases")
    parser.add_argument("--valid", type=int, default=5_000, help="validation canvases")
    parser.add_argument("--test", type=int, default=5_000, help="test canvases")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="MNIST directory (default: lookup)")
    args = parser.parse_args()
    counts = {"train": args.train, "valid": args.valid, "test": args.test}
    splits = {name: colour_split(name, n, args.seed, args.data_dir) for name, n in counts.items()}
    path = write_dataset(
        args.output, splits, recipe="colour MNIST: random hue, 4 coloured 8x8 patches, noisy "
        "dark background (examples/colour_mnist.py)", seed=args.seed,
    )  # fmt: skip
    print(f"wrote {path}: {counts} canvases of {CANVAS_SIZE}x{CANVAS_SIZE}x3")


if __name__ == "__main__":
    main()
