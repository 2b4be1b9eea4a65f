"""Train an SB3 baseline (RecurrentPPO or frame-stacked PPO) on a glimpse task.

The command line of ``train/ppo_baseline.py`` and of the console command ``glimpse-ppo``:

    python train/ppo_baseline.py --algo recurrent-ppo --env ClutteredMNIST-v0 --timesteps 2000000
    python train/ppo_baseline.py --algo ppo --env TranslatedMNIST-v0
    python train/ppo_baseline.py --eval runs/<run>/model.zip      # test accuracy only (safe load)
    python train/ppo_baseline.py --eval runs/<run>/model.zip --trajectories paths.png
    python train/ppo_baseline.py --resume runs/<run>              # after Ctrl-C or a crash
    python train/ppo_baseline.py --card runs/<run>/model.zip --name recurrent-ppo-cluttered60 \
        --budget "..." --selection "..."                  # results/baselines/<name>.json
    tensorboard --logdir runs

Same evaluation canvases as the attention agents: validation during training, valid and test at
the end; prints "test accuracy" at the end. Models are loaded parameters-only into a model built
from the run's config.json (never SB3's ``load``, which unpickles code).
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents.sb3.baselines import (
    ALGOS,
    BaselineConfig,
    evaluate_baseline,
    load_model,
    preset_hyper,
    save_trajectories_png,
    saved_config,
    train_baseline,
)
from agents.sb3.scored_steps import SWITCH
from agents.supervised.card import CARD_DIR, card_summary
from agents.training.cli import new_run_dir, record_command

DEFAULT_TIMESTEPS = 1_000_000
#: Preset values the command line can override: `--flag` -> SB3 keyword (`-` read as `_`).
OVERRIDABLE: dict[str, type] = {
    "learning-rate": float, "ent-coef": float, "n-epochs": int, "gae-lambda": float,
    "n-steps": int,
}  # fmt: skip


#: Signals that end a training run early (checkpointed and scored, like the other trainers).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def hyper_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The preset of ``args.algo`` on ``args.env`` (:func:`~agents.sb3.baselines.preset_hyper`)
    with the command line's ``--learning-rate`` etc. applied."""
    hyper = preset_hyper(args.algo, args.env)
    for flag in OVERRIDABLE:
        value = getattr(args, flag.replace("-", "_"))
        if value is not None:
            if not math.isfinite(value) or (OVERRIDABLE[flag] is int and value < 1):
                raise ValueError(f"--{flag} must be a finite number (a count >= 1), got {value}")
            if flag in ("learning-rate", "ent-coef", "gae-lambda") and value < 0:
                raise ValueError(f"--{flag} must be >= 0, got {value}")
            hyper[flag.replace("-", "_")] = value
    switch = getattr(args, "label_at_scored_steps", None)
    if switch is not None:  # None: the preset's choice
        hyper["policy_kwargs"] = {**hyper.get("policy_kwargs", {}), SWITCH: switch}
    return hyper


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line (``argv``: default ``sys.argv[1:]``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algo", choices=ALGOS, default="recurrent-ppo")
    parser.add_argument("--env", default="ClutteredMNIST-v0", help="a registered id")
    parser.add_argument(
        "--timesteps", type=int, help=f"env steps to train to (default {DEFAULT_TIMESTEPS:,})"
    )
    parser.add_argument(
        "--wall-clock-budget", type=float, metavar="SECONDS",
        help="stop once the run's clock (summed over resumes) reaches SECONDS, then checkpoint and "
        "score; with --resume it replaces the run's budget (0: none)",
    )  # fmt: skip
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--grid-size", type=int, default=9)
    parser.add_argument(
        "--frame-stack", type=int, default=None, help="ppo only: observations stacked (default 6)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--logdir", default="runs")
    parser.add_argument("--eval-canvases", type=int, default=10_000)
    parser.add_argument("--eval-every", type=int, default=100_000)
    parser.add_argument(
        "--checkpoint-every", type=int, default=100_000, help="env steps between checkpoints"
    )
    parser.add_argument(
        "--eval-seed", type=int, default=BaselineConfig.eval_seed,
        help="evaluation-canvas stream (the same for every run by default)",
    )  # fmt: skip
    parser.add_argument("--eval", metavar="PATH", help="only evaluate this model.zip")
    parser.add_argument(
        "--eval-split", choices=("test", "valid"), default="test", help="split scored by --eval"
    )
    parser.add_argument(
        "--trajectories", metavar="PNG", help="with --eval: also draw 16 test glimpse paths here"
    )
    parser.add_argument(
        "--resume", metavar="RUN_DIR", help="continue this run's last checkpoint (its settings)"
    )
    for flag, kind in OVERRIDABLE.items():
        parser.add_argument(
            f"--{flag}", type=kind, help="override the task's preset (baselines.preset_hyper)"
        )
    parser.add_argument(
        "--label-at-scored-steps", action=argparse.BooleanOptionalAction, default=None,
        help="count the label's log-probability (and entropy) only on the steps that score it, "
        "the location's only before the last step (agents/sb3/scored_steps.py); default: the "
        "preset's (on for recurrent-ppo, off for ppo)",
    )  # fmt: skip
    parser.add_argument(
        "--card", metavar="MODEL_ZIP",
        help="write the baseline card of this model.zip (config.json, checkpoint.json beside it)",
    )  # fmt: skip
    parser.add_argument("--name", help="the card's name (with --card)")
    parser.add_argument("--budget", default="", help="with --card: the budget, stated up front")
    parser.add_argument("--selection", default="", help="with --card: how settings were chosen")
    parser.add_argument("--notes", default="", help="with --card: free text")
    parser.add_argument("--card-dir", type=Path, default=CARD_DIR, help="where --card writes")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    # `kill` or Ctrl-C ends training, which still checkpoints and scores. SIGINT is set here too:
    # a job started with `&` from a script inherits it ignored, so Python would never raise.
    previous = {signum: signal.signal(signum, _interrupt) for signum in STOP_SIGNALS}
    try:
        return _run(args, argv, {a.dest: a.default for a in parser._actions})
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


#: What each action reads besides its own flag; any other flag given with it is an error.
_APPLIES = {
    "eval": {"eval_split", "eval_canvases", "eval_seed", "device", "trajectories", "no_progress"},
    "resume": {"timesteps", "wall_clock_budget", "device", "no_progress"},
    "card": {"name", "budget", "selection", "notes", "card_dir", "eval_canvases", "no_progress"},
}
#: Flags only --eval or --card read (a new run would ignore them).
_NOT_FOR_TRAINING = {"eval_split", "trajectories", "name", "budget", "selection", "notes"}


def _reject_ignored(args: argparse.Namespace, defaults: dict[str, Any], action: str | None) -> None:
    """One clear error for a flag the chosen action would silently ignore."""
    given = {k for k, v in vars(args).items() if v != defaults.get(k) and k != action}
    if action is not None:
        ignored = sorted(given - _APPLIES[action])
        reason = f"--{action} uses the run's own settings"
    else:
        ignored = sorted(given & (_NOT_FOR_TRAINING | {"card_dir"}))
        if args.frame_stack is not None and args.algo != "ppo":
            ignored.append("frame_stack")
        reason = "a new run does not read it"
    if ignored:
        flags = ", ".join("--" + name.replace("_", "-") for name in ignored)
        raise ValueError(f"{flags} cannot be applied ({reason})")


def _run(args: argparse.Namespace, argv: list[str], defaults: dict[str, Any]) -> int:
    interrupted = False
    try:
        actions = [flag for flag in ("resume", "eval", "card") if getattr(args, flag)]
        if len(actions) > 1:
            raise ValueError(f"give one of --resume, --eval, --card; got {actions}")
        _reject_ignored(args, defaults, actions[0] if actions else None)
        if args.card:
            return _write_card(args)
        if args.eval:
            config = saved_config(Path(args.eval).parent, device=args.device,
                                  eval_seed=args.eval_seed)  # fmt: skip
            result = evaluate_baseline(
                load_model(args.eval, config), config, args.eval_canvases, args.eval_split
            )
            if args.trajectories:
                save_trajectories_png(result, config, Path(args.trajectories))
        elif args.resume:
            run_dir = Path(args.resume)
            more = {"timesteps": args.timesteps} if args.timesteps is not None else {}
            if args.wall_clock_budget is not None:
                more["wall_clock_budget_s"] = args.wall_clock_budget
            config = saved_config(run_dir, device=args.device, **more)
            record_command(run_dir, "train/ppo_baseline.py", argv)
            outcome = train_baseline(config, run_dir, progress=not args.no_progress, resume=True)
            result, interrupted = outcome.test, outcome.interrupted
        else:
            config = BaselineConfig(
                algo=args.algo, env_id=args.env, num_envs=args.num_envs, grid_size=args.grid_size,
                frame_stack=6 if args.frame_stack is None else args.frame_stack,
                timesteps=DEFAULT_TIMESTEPS if args.timesteps is None else args.timesteps,
                seed=args.seed,
                device=args.device, eval_canvases=args.eval_canvases, eval_every=args.eval_every,
                eval_seed=args.eval_seed, checkpoint_every=args.checkpoint_every,
                hyper=hyper_overrides(args), wall_clock_budget_s=args.wall_clock_budget or 0.0,
            )  # fmt: skip
            run_dir = new_run_dir(Path(args.logdir), f"{args.algo}-{args.env}")
            record_command(run_dir, "train/ppo_baseline.py", argv)
            print(f"Run directory: {run_dir}")
            outcome = train_baseline(config, run_dir, progress=not args.no_progress)
            result, interrupted = outcome.test, outcome.interrupted
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    accuracy = 100 - result.error_pct
    correct = result.total - result.errors
    print(f"{result.split} accuracy {accuracy:.2f}% ({correct}/{result.total})")
    return 130 if interrupted else 0  # an interrupted run exits 130, as the other scripts


def _write_card(args: argparse.Namespace) -> int:
    """``--card``: score the model on ``--eval-canvases`` valid and test canvases, write card."""
    from agents.sb3.card import build_card, write_card

    if not args.name:
        raise ValueError("--card needs --name (e.g. recurrent-ppo-cluttered60)")
    card = build_card(
        args.card, args.name, args.eval_canvases, args.budget, args.selection, args.notes
    )
    path = write_card(card, args.card_dir)
    print(f"{card_summary(card, path)} after {card['env_steps']:,} env steps")
    return 0
