"""Command line of the supervised full-canvas baselines (``glimpse-train-supervised``).

    python train/supervised_baseline.py --env-id ClutteredMNIST-v0 --model cnn
    python train/supervised_baseline.py --resume runs/<run>
    python train/supervised_baseline.py --eval runs/<run>/best.pt [--eval-split valid]
    python train/supervised_baseline.py --card runs/<run>/best.pt --name cnn-cluttered60

Every :class:`agents.supervised.config.SupervisedConfig` field is a flag (``--batch-size``),
with its docstring as help.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from agents.config_io import add_config_flags, given_fields
from agents.runs.directory import (
    new_run_dir,
    one_line_warnings,
    record_command,
    resume_checkpoint,
)
from agents.supervised.card import CARD_DIR, build_card, card_summary, write_card
from agents.supervised.config import SupervisedConfig
from agents.supervised.data import Canvases
from agents.supervised.models import BASELINES
from agents.supervised.trainer import SupervisedTrainer, load_model, score

SCRIPT = "train/supervised_baseline.py"
#: Old spellings of config flags, still read with a warning for one version.
DEPRECATED = {"--env": "env_id"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Train a supervised full-canvas baseline (FC or CNN) on a glimpse task's "
        "canvases.",
    )
    add_config_flags(parser, SupervisedConfig, choices={"model": BASELINES}, deprecated=DEPRECATED)
    parser.add_argument(
        "--logdir", default="runs", help="runs go in LOGDIR/<model>-<task>-<time>/ (default runs)"
    )
    parser.add_argument(
        "--resume", metavar="RUN_DIR", help="continue this run from its checkpoint.pt"
    )
    parser.add_argument("--eval", metavar="PATH", help="only score this checkpoint")
    parser.add_argument("--eval-split", choices=("valid", "test"), default="test")
    parser.add_argument("--card", metavar="PATH", help="write the baseline card of this checkpoint")
    parser.add_argument("--name", help="the card's name (with --card), e.g. cnn-cluttered60")
    parser.add_argument("--card-dir", type=Path, default=CARD_DIR, help="where --card writes")
    parser.add_argument("--notes", default="", help="free text for the card")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    with one_line_warnings():
        return _run(args, argv)


def _run(args: argparse.Namespace, argv: list[str]) -> int:
    progress = not args.no_progress
    try:
        given = given_fields(args, SupervisedConfig, deprecated=DEPRECATED)
        actions = [flag for flag in ("resume", "eval", "card") if getattr(args, flag)]
        if len(actions) > 1:
            raise ValueError(f"give one of --resume, --eval, --card; got {actions}")
        if args.card or args.eval:
            allowed = ("device", "data_dir", "eval_batch_size", "final_eval_canvases", "eval_seed")
            rejected = sorted(set(given) - {*allowed, "num_threads"})
            if rejected:
                flags = ", ".join("--" + name.replace("_", "-") for name in rejected)
                raise ValueError(f"{flags} cannot be applied to a trained model's evaluation")
            if given.pop("num_threads", 0):
                torch.set_num_threads(args.num_threads)
            canvases = given.pop("final_eval_canvases", 10_000)
        if args.card:
            if not args.name:
                raise ValueError("--card needs --name (e.g. cnn-cluttered60)")
            card = build_card(args.card, args.name, canvases, args.notes, progress, **given)
            path = write_card(card, args.card_dir)
            print(card_summary(card, path))
            return 0
        if args.eval:
            loaded = load_model(args.eval, **given)
            config = loaded.config
            split = Canvases(config.task(args.eval_split))
            print(score(loaded.model, split, canvases, config.eval_batch_size,
                        config.eval_seed, progress))  # fmt: skip
            return 0
        if args.resume:
            checkpoint = resume_checkpoint(args.resume)
            trainer = SupervisedTrainer.from_checkpoint(checkpoint, progress, **given)
            print(f"Resuming {trainer.run_dir} at update {trainer.update}")
        else:
            config = SupervisedConfig(**given)
            run_dir = new_run_dir(Path(args.logdir), config.name)
            trainer = SupervisedTrainer(config, run_dir, progress)
            print(f"Run directory: {run_dir}  (tensorboard --logdir {args.logdir})")
            print(
                f"{config.model}: {sum(p.numel() for p in trainer.model.parameters()):,} "
                f"parameters, sizes {trainer.sizes}, matched to {trainer.matched_parameters:,} "
                f"({trainer.matched_to})"
            )
        record_command(trainer.run_dir, SCRIPT, argv)
        result = trainer.train()
    except (ValueError, OSError, FloatingPointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if result.final is None:
        return 130
    final = result.final
    print(
        f"Finished {result.update} updates in {result.wall_clock_s:.0f} s; {final.weights} "
        f"(best valid at update {final.best_valid['progress']}): valid "
        f"{final.valid_error_greedy:.2f}%, test {final.test_error_greedy:.2f}% "
        f"({final.test_errors_greedy}/{final.canvases})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
