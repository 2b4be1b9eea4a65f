"""How a zoo model's Monte-Carlo error depends on the spread of its sampled glimpse paths.

    python benchmarks/mc_noise.py ram-cluttered100-8g --stds 0.005 0.02 0.11 --canvases 1000

The Monte-Carlo evaluation plays ``mc_samples`` paths per canvas with the location drawn from a
Gaussian of std ``location_std`` around the policy's mean, and averages the class probabilities
(:mod:`agents.training.evaluate`). This scores one model on the same fixed canvases with other
stds (normalised units: 0.01 is half a pixel on a 100-pixel canvas) and with one sampled path, so
that the gap between the greedy and the MC error can be read: if a tiny std already closes most
of it, the gain comes from averaging many slightly different paths (an ensemble over a brittle
answer), not from paths that find the digit where the mean path misses it.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import torch

from agents import zoo
from agents.training.config import TrainConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a zoo name, a zoo file or a training checkpoint.pt")
    parser.add_argument("--stds", type=float, nargs="+", default=[0.005, 0.02, 0.05, 0.11, 0.2])
    parser.add_argument("--canvases", type=int, default=1000)
    parser.add_argument("--split", choices=("valid", "test"), default="valid")
    parser.add_argument("--num-threads", type=int, default=1)
    args = parser.parse_args()
    if any(std <= 0 for std in args.stds):
        parser.error(f"--stds must be positive, got {args.stds}")
    torch.set_num_threads(args.num_threads)

    trained = zoo.load(args.model)
    rows = []
    for std in args.stds:
        config = TrainConfig.from_dict({**trained.config.to_dict(), "location_std": std})
        result = replace(trained, config=config).evaluate(args.split, num_canvases=args.canvases)
        rows.append((f"{std:g}", config.mc_samples, result.mc))
    one = trained.evaluate(args.split, num_canvases=args.canvases, mc_samples=1)
    rows.append((f"{trained.config.location_std:g} (trained)", 1, one.mc))
    print(
        f"{args.model}, {args.canvases} {args.split} canvases: greedy {one.greedy.error_pct:.2f}%"
    )
    print("| location std | paths | MC error |\n| --- | --- | --- |")
    for std, paths, mc in rows:
        print(f"| {std} | {paths} | {mc.error_pct:.2f}% ({mc.errors}/{mc.total}) |")


if __name__ == "__main__":
    main()
