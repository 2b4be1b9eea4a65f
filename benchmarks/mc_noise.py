"""How a zoo model's Monte-Carlo error depends on the spread of its sampled glimpse paths.

    python benchmarks/mc_noise.py ram-cluttered100-8g --stds 0.005 0.02 0.11 --canvases 1000

The Monte-Carlo evaluation plays ``mc_samples`` paths per canvas with the location drawn from a
Gaussian of std ``location_std`` around the policy's mean, and averages the class probabilities
(:mod:`agents.evaluation`). This scores one model on the same fixed canvases with other
stds (normalised units: 0.01 is half a pixel on a 100-pixel canvas) and with one sampled path, so
that the gap between the greedy and the MC error can be read: if a tiny std already closes most
of it, the gain comes from averaging many slightly different paths (an ensemble over a brittle
answer), not from paths that find the digit where the mean path misses it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NamedTuple

import torch

from agents import zoo
from agents.evaluation import EvalResult
from agents.zoo import ZooAgent


class NoiseRow(NamedTuple):
    """One row of the table: the location std (normalised units), the paths per canvas and
    the Monte-Carlo error they give."""

    std: float
    paths: int
    mc: EvalResult


def noise_rows(
    trained: ZooAgent, stds: Sequence[float], split: str, canvases: int
) -> tuple[EvalResult, list[NoiseRow]]:
    """Score ``trained`` on the first ``canvases`` canvases of ``split``: its greedy error, then
    its MC error with the card's ``mc_samples`` paths at each std of ``stds``, and one sampled
    path at the trained std (the last row)."""
    rows = []
    for std in stds:
        _, mc = trained.evaluate(split, num_canvases=canvases, location_std=std)
        rows.append(NoiseRow(std, trained.config.mc_samples, mc))
    greedy, one = trained.evaluate(split, num_canvases=canvases, mc_samples=1)
    rows.append(NoiseRow(trained.config.location_std, 1, one))
    return greedy, rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a zoo name, a zoo file or a training checkpoint.pt")
    parser.add_argument("--stds", type=float, nargs="+", default=[0.005, 0.02, 0.05, 0.11, 0.2])
    parser.add_argument("--canvases", type=int, default=1000)
    parser.add_argument("--split", choices=("valid", "test"), default="valid")
    parser.add_argument("--num-threads", type=int, default=1)
    args = parser.parse_args(argv)
    if any(not std > 0 for std in args.stds):
        parser.error(f"--stds must be positive, got {args.stds}")
    if args.canvases < 1:
        parser.error(f"--canvases must be at least 1, got {args.canvases}")
    torch.set_num_threads(args.num_threads)
    try:
        trained = zoo.load(args.model)
    except (FileNotFoundError, ValueError) as error:
        print(f"mc_noise.py: {error}", file=sys.stderr)
        return 2

    greedy, rows = noise_rows(trained, args.stds, args.split, args.canvases)
    print(f"{args.model}, {args.canvases} {args.split} canvases: greedy {greedy.error_pct:.2f}%")
    print("| location std | paths | MC error |\n| --- | --- | --- |")
    for i, row in enumerate(rows):
        std = f"{row.std:g}" + (" (trained)" if i == len(rows) - 1 else "")
        print(f"| {std} | {row.paths} | {row.mc.error_pct:.2f}% ({row.mc.errors}/{row.mc.total}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
