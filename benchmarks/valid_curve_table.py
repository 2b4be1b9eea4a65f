"""Validation curves of SB3 baseline cards side by side, as a Markdown table.

Each card (``results/baselines/*.json`` or any card written by ``train/ppo_baseline.py --card``)
keeps the run's periodic deterministic validation error as ``valid_curve``: rows of
``[env steps, wall-clock seconds, error %]``. This prints one row per card, one column per
requested env-step count (the report nearest to it, if less than half ``--eval-every`` away:
runs report at whole rollouts, a few steps past the round number), and the card's final error
on all 10,000 ``valid`` canvases::

    python benchmarks/valid_curve_table.py \\
        results/baselines/recurrent-ppo-translated60-steps.json \\
        results/sweeps/recurrent-ppo-budget-check/recurrent-ppo-translated60-steps-tuned.json \\
        --steps 1000000 3000000 6000000 11500000
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def load_curve(card: dict, path: Path) -> list[tuple[int, float]]:
    """``(env steps, validation error %)`` pairs of a card, in step order."""
    curve = card.get("valid_curve")
    if not isinstance(curve, list) or not curve:
        raise ValueError(f"{path}: not a baseline card with a valid_curve")
    return sorted((int(row[0]), float(row[2])) for row in curve)


def error_at(curve: list[tuple[int, float]], steps: int, window: int) -> float | None:
    """The report nearest to ``steps`` if less than ``window / 2`` away, else None."""
    near = [(abs(at - steps), error) for at, error in curve if abs(at - steps) < window / 2]
    return min(near)[1] if near else None


def _label(steps: int) -> str:
    return f"{steps / 1e6:g}M" if steps >= 1_000_000 else f"{steps // 1000}k"


def curve_table(paths: list[Path], steps: list[int], window: int) -> str:
    """The Markdown table: a row per card (its name and settings), a column per step count."""
    header = ["card", "settings", *(_label(s) for s in steps), "final, 10,000 valid"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for path in paths:
        try:
            card = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: cannot read the card: {error}") from None
        curve = load_curve(card, path)
        hyper = card.get("config", {}).get("hyper", {})
        settings = " / ".join(
            f"{hyper[key]:g}" for key in ("learning_rate", "ent_coef", "gae_lambda") if key in hyper
        )
        if "n_steps" in hyper:
            settings += f" / {hyper['n_steps']}"
        cells = [f"`{card.get('name', path.stem)}`", settings]
        for at in steps:
            error = error_at(curve, at, window)
            cells.append("" if error is None else f"{error:g}%")
        cells.append(f"{card['valid']['greedy']['error_pct']:g}%")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cards", nargs="+", type=Path, help="baseline card JSON files")
    parser.add_argument("--steps", nargs="+", type=int, required=True, help="env-step columns")
    parser.add_argument(
        "--eval-every", type=int, default=250_000, help="report spacing of the runs (env steps)"
    )
    args = parser.parse_args(argv)
    try:
        sys.stdout.write(curve_table(args.cards, args.steps, args.eval_every))
    except ValueError as error:
        parser.error(str(error))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
