"""Train an SB3 baseline (RecurrentPPO or frame-stacked PPO) on a glimpse task.

The command line of ``train/ppo_baseline.py`` and of the console command ``glimpse-ppo``:

    python train/ppo_baseline.py --algo recurrent-ppo --env-id ClutteredMNIST-v0 --timesteps 2000000
    python train/ppo_baseline.py --algo ppo --env-id TranslatedMNIST-v0
    python train/ppo_baseline.py --eval runs/<run>/model.zip      # test accuracy only (safe load)
    python train/ppo_baseline.py --eval runs/<run>/model.zip --trajectories paths.png
    python train/ppo_baseline.py --resume runs/<run>              # after Ctrl-C or a crash
    python train/ppo_baseline.py --card runs/<run>/model.zip --name recurrent-ppo-cluttered60 \
        --budget "..." --selection "..."                  # results/baselines/<name>.json
    tensorboard --logdir runs

Every :class:`agents.sb3.config.BaselineConfig` field but ``hyper`` is a flag, with its
docstring as help; ``--learning-rate`` etc. change the SB3 preset
(:func:`agents.sb3.config.preset_hyper`). Same evaluation canvases as the attention agents:
validation during training, valid and test at the end; prints "test accuracy" at the end. Models
are loaded parameters-only into a model built from the run's config.json (never SB3's ``load``,
which unpickles code).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from agents.config_io import add_config_flags, given_fields
from agents.runs.directory import new_run_dir, one_line_warnings, record_command
from agents.sb3.baselines import train_baseline
from agents.sb3.card import build_card, write_card
from agents.sb3.config import ALGOS, BaselineConfig, preset_hyper, saved_config
from agents.sb3.evaluation import evaluate_baseline, save_trajectories_png
from agents.sb3.files import load_model
from agents.sb3.scored_steps import SWITCH
from agents.supervised.card import CARD_DIR, card_summary

SCRIPT = "train/ppo_baseline.py"
#: Preset values the command line can override: `--flag` -> SB3 keyword (`-` read as `_`).
OVERRIDABLE: dict[str, type] = {
    "learning-rate": float, "ent-coef": float, "n-epochs": int, "gae-lambda": float,
    "n-steps": int,
}  # fmt: skip
#: Old spellings of config flags, still read with a warning for one version.
DEPRECATED = {"--env": "env_id"}
#: Config fields without a flag (``hyper`` is made from the preset and the flags above).
_NO_FLAG = ("hyper",)


def hyper_overrides(args: argparse.Namespace, algo: str, env_id: str) -> dict[str, Any]:
    """The preset of ``algo`` on ``env_id`` (:func:`~agents.sb3.config.preset_hyper`) with
    the command line's ``--learning-rate`` etc. applied."""
    hyper = preset_hyper(algo, env_id)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logdir", default="runs", help="runs go in LOGDIR/<algo>-<task>-<time>/")
    parser.add_argument("--eval", metavar="PATH", help="only evaluate this model.zip")
    parser.add_argument(
        "--eval-split", choices=("test", "valid"), default=None, help="split scored by --eval"
    )
    parser.add_argument(
        "--trajectories", metavar="PNG", help="with --eval: also draw 16 test glimpse paths here"
    )
    parser.add_argument(
        "--resume", metavar="RUN_DIR", help="continue this run's last checkpoint (its settings)"
    )
    config_group = parser.add_argument_group("config fields (BaselineConfig)")
    add_config_flags(
        config_group, BaselineConfig, skip=_NO_FLAG, choices={"algo": ALGOS},
        aliases={"wall_clock_budget_s": ("--wall-clock-budget",)}, deprecated=DEPRECATED,
    )  # fmt: skip
    sb3_group = parser.add_argument_group("SB3 settings (default: the task's preset)")
    for flag, kind in OVERRIDABLE.items():
        sb3_group.add_argument(
            f"--{flag}", type=kind, help="override the task's preset (baselines.preset_hyper)"
        )
    sb3_group.add_argument(
        "--label-at-scored-steps", action=argparse.BooleanOptionalAction, default=None,
        help="count the label's log-probability (and entropy) only on the steps that score it, "
        "the location's only before the last step (agents/sb3/scored_steps.py); default: the "
        "preset's (on for recurrent-ppo, off for ppo)",
    )  # fmt: skip
    card_group = parser.add_argument_group("--card: write a baseline card")
    card_group.add_argument(
        "--card", metavar="MODEL_ZIP",
        help="write the baseline card of this model.zip (config.json, checkpoint.json beside it)",
    )  # fmt: skip
    card_group.add_argument("--name", help="the card's name (with --card)")
    card_group.add_argument("--budget", default="", help="the budget, stated up front")
    card_group.add_argument("--selection", default="", help="how settings were chosen")
    card_group.add_argument("--notes", default="", help="free text")
    card_group.add_argument("--card-dir", type=Path, default=CARD_DIR, help="where --card writes")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line (``argv``: default ``sys.argv[1:]``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    with one_line_warnings():
        return _run(args, argv, {a.dest: a.default for a in parser._actions})


#: What each action reads besides its own flag; any other flag given with it is an error.
_APPLIES = {
    "eval": {
        "eval_split", "eval_canvases", "eval_seed", "device", "num_threads", "trajectories",
        "no_progress",
    },
    "resume": {"timesteps", "wall_clock_budget_s", "device", "num_threads", "no_progress"},
    "card": {
        "name", "budget", "selection", "notes", "card_dir", "eval_canvases", "num_threads",
        "no_progress",
    },
}  # fmt: skip
#: Flags only --eval or --card read (a new run would ignore them).
_NOT_FOR_TRAINING = {"eval_split", "trajectories", "name", "budget", "selection", "notes"}


def _reject_ignored(args: argparse.Namespace, defaults: dict[str, Any], action: str | None) -> None:
    """One clear error for a flag the chosen action would silently ignore."""
    given = {
        k.removeprefix("deprecated_")
        for k, v in vars(args).items()
        if v != defaults.get(k) and k != action
    }
    if action is not None:
        ignored = sorted(given - _APPLIES[action])
        reason = f"--{action} uses the run's own settings"
    else:
        ignored = sorted(given & (_NOT_FOR_TRAINING | {"card_dir"}))
        if args.frame_stack is not None and (args.algo or BaselineConfig.algo) != "ppo":
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
        given = given_fields(args, BaselineConfig, skip=_NO_FLAG, deprecated=DEPRECATED)
        if given.get("num_threads"):
            torch.set_num_threads(given["num_threads"])
        if args.card:
            return _write_card(args)
        if args.eval:
            changes = {k: given[k] for k in ("device", "eval_seed") if k in given}
            config = saved_config(Path(args.eval).parent, **changes)
            result = evaluate_baseline(
                load_model(args.eval, config), config,
                given.get("eval_canvases", BaselineConfig.eval_canvases),
                args.eval_split or "test",
            )  # fmt: skip
            if args.trajectories:
                save_trajectories_png(result, config, Path(args.trajectories))
        elif args.resume:
            run_dir = _run_dir_of(Path(args.resume))
            config = saved_config(run_dir, **given)
            record_command(run_dir, SCRIPT, argv)
            outcome = train_baseline(config, run_dir, progress=not args.no_progress, resume=True)
            result, interrupted = outcome.greedy, outcome.interrupted
        else:
            algo, env_id = given.get("algo", BaselineConfig.algo), given.get("env_id")
            config = BaselineConfig(
                **given, hyper=hyper_overrides(args, algo, env_id or BaselineConfig.env_id)
            )
            run_dir = new_run_dir(Path(args.logdir), f"{config.algo}-{config.env_id}")
            record_command(run_dir, SCRIPT, argv)
            print(f"Run directory: {run_dir}")
            outcome = train_baseline(config, run_dir, progress=not args.no_progress)
            result, interrupted = outcome.greedy, outcome.interrupted
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    accuracy = 100 - result.error_pct
    correct = result.total - result.errors
    print(f"{result.split} accuracy {accuracy:.2f}% ({correct}/{result.total})")
    return 130 if interrupted else 0  # an interrupted run exits 130, as the other scripts


def _run_dir_of(target: Path) -> Path:
    """``--resume``'s run directory; a ``model.zip`` path is accepted for one more version."""
    if target.is_file():
        import warnings

        warnings.warn(
            f"--resume takes the run directory ({target.parent}); a model.zip path is accepted "
            "until the next version",
            FutureWarning,
            stacklevel=2,
        )
        return target.parent
    return target


def _write_card(args: argparse.Namespace) -> int:
    """``--card``: score the model on ``--eval-canvases`` valid and test canvases, write card."""
    if not args.name:
        raise ValueError("--card needs --name (e.g. recurrent-ppo-cluttered60)")
    card = build_card(
        args.card, args.name, args.eval_canvases, args.budget, args.selection, args.notes
    )
    path = write_card(card, args.card_dir)
    print(f"{card_summary(card, path)} after {card['env_steps']:,} env steps")
    return 0
