"""Overlay the learning curves of several training runs in one PNG.

    python benchmarks/plot_curves.py runs/a runs/b --labels "2 scales" "location loss" \\
        --out results/dram100_variants.png --title "DRAM, 100x100 cluttered"

Reads each run's ``metrics.jsonl`` (finished or not, so an abandoned run can be shown beside the
one that was kept) and draws the training accuracy (sampled paths, as logged) against updates, and
the periodic greedy validation accuracy as markers (test accuracy for runs made before the
validation split).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from figures import pyplot, save_png

from agents.runs.log import EVAL_KEY, evaluations, read_metrics


def plot_runs(run_dirs: list[Path], labels: list[str], out: Path, title: str = "") -> None:
    """Draw ``run_dirs``' curves (see the module docstring) into ``out``."""
    plt = pyplot()

    if len(labels) != len(run_dirs):
        raise ValueError(f"{len(run_dirs)} runs but {len(labels)} labels")
    fig, ax = plt.subplots(figsize=(7, 4))
    for run_dir, label in zip(run_dirs, labels, strict=True):
        records = read_metrics(run_dir)
        if not records:
            raise FileNotFoundError(f"{run_dir} has no metrics.jsonl records")
        train = [r for r in records if "train/accuracy" in r]
        accuracy = [100 * r["train/accuracy"] for r in train]
        (line,) = ax.plot([r["update"] for r in train], accuracy, lw=1, label=label)
        evals = evaluations(records)
        ax.plot([r["update"] for r in evals], [100 - r[EVAL_KEY] for r in evals],
                "o", color=line.get_color(), ms=5)  # fmt: skip
    ax.set_xlabel("update")
    ax.set_ylabel("accuracy (%): line train, dots valid (greedy)")
    ax.set_ylim(0, 100)
    ax.grid(True, alpha=0.3)
    ax.legend()
    ax.set_title(title)
    save_png(fig, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories")
    parser.add_argument("--labels", nargs="+", required=True, help="one legend entry per run")
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    parser.add_argument("--title", default="")
    args = parser.parse_args()
    plot_runs(args.runs, args.labels, args.out, args.title)


if __name__ == "__main__":
    main()
