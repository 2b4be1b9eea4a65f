"""The command line shared by ``train/ram_agent.py`` and the other REINFORCE agents' scripts.

Every :class:`agents.training.config.TrainConfig` field is a flag (``location_std`` ->
``--location-std``);
flags override the chosen ``--preset``. ``--resume`` continues a run from its checkpoint and
``--eval`` only evaluates one.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents.config_io import field_help, flag_type, plain_text
from agents.training.config import PRESETS, TrainConfig, foreign_fields, preset_config
from agents.training.trainer import (
    EVAL_OVERRIDES,
    RESUME_OVERRIDES,
    Trainer,
    TrainingDiverged,
    evaluate_checkpoint,
)
from glimpse_env.atomic import exclusive_lock
from glimpse_env.envs import TaskConfig

COMMAND_FILE = "command.txt"
#: Held by the process training in a run directory (a second --resume is refused).
RUN_LOCK = ".lock"
#: Extra spellings of some config flags.
_ALIASES = {"dataset_path": ("--dataset",)}
#: Flags handled by the script itself rather than copied into the config.
_OWN = {"preset"}


def build_parser(agent: str, default_preset: str) -> argparse.ArgumentParser:
    presets = sorted(name for name, values in PRESETS.items() if _agent_of(values) == agent)
    parser = argparse.ArgumentParser(
        description=f"Train the {agent.upper()} agent; flags override the preset.",
    )
    parser.add_argument(
        "--preset", default=None, help=f"one of {', '.join(presets)} (default {default_preset})"
    )
    parser.add_argument(
        "--logdir", default=None, help="runs go in LOGDIR/<preset>-<time>/ (default runs)"
    )
    parser.add_argument("--resume", metavar="PATH", help="continue the run of this checkpoint")
    parser.add_argument(
        "--eval",
        metavar="PATH",
        help="only evaluate this zoo model (a name, models/<name>.safetensors) or checkpoint; "
        "prints the greedy and Monte-Carlo errors",
    )
    parser.add_argument(
        "--eval-split",
        choices=("test", "valid"),
        default=None,
        help="split scored by --eval (default test)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    config_group = parser.add_argument_group(
        "config fields (default: the preset's value; `python -c \"from agents.training.config "
        "import preset_config; print(preset_config('NAME'))\"` shows a preset)"
    )
    helps = {**field_help(TrainConfig), **field_help(TaskConfig)}  # task fields: their own
    for field in dataclasses.fields(TrainConfig):
        if field.name in _OWN:
            continue
        flag = "--" + field.name.replace("_", "-")
        text = plain_text(helps.get(field.name) or field.metadata.get("help", ""))
        if field.type == "bool":
            config_group.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=None, help=text
            )
            continue
        parse, optional = flag_type(field.type)
        if not callable(parse):
            raise TypeError(f"no command-line parser for field {field.name}: {field.type}")
        kwargs: dict[str, Any] = {"type": parse, "default": None, "dest": field.name}
        kwargs["help"] = f"{text} (optional)" if optional else text
        config_group.add_argument(flag, *_ALIASES.get(field.name, ()), **kwargs)
    return parser


def _agent_of(values: dict[str, Any]) -> str:
    return values.get("agent", TrainConfig.agent)


def given_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The config fields given on the command line (flags left out are ``None``)."""
    return {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(TrainConfig)
        if f.name not in _OWN and getattr(args, f.name, None) is not None
    }


def config_from_args(args: argparse.Namespace, default_preset: str) -> TrainConfig:
    """The preset's config with every given flag applied."""
    return preset_config(args.preset or default_preset, **given_fields(args))


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def reject_flags(args: argparse.Namespace, allowed: Sequence[str], action: str) -> None:
    """Raise ``ValueError`` naming every given flag that ``action`` cannot honour."""
    rejected = [_flag(name) for name in given_fields(args) if name not in allowed]
    rejected += [flag for flag, value in (("--preset", args.preset), ("--logdir", args.logdir))
                 if value is not None]  # fmt: skip
    if action != "--eval" and args.eval_split is not None:
        rejected.append("--eval-split")
    if rejected:
        raise ValueError(
            f"{', '.join(rejected)} cannot be applied with {action} (the run's own settings "
            f"are used); {action} accepts {', '.join(_flag(name) for name in allowed)}"
        )


def new_run_dir(logdir: Path, name: str) -> Path:
    """Create and return ``logdir/<name>-<time>`` (``-2``, ``-3``... if taken): runs started in
    the same second never share a directory (the directory is claimed by ``mkdir``).

    Raises:
        ValueError: ``logdir`` is a file, or cannot be written.
    """
    if logdir.exists() and not logdir.is_dir():
        raise ValueError(f"--logdir {logdir} is a file, not a directory")
    try:
        logdir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"cannot create --logdir {logdir}: {error.strerror}") from None
    if not os.access(logdir, os.W_OK):
        raise ValueError(f"--logdir {logdir} is not writable")
    base = f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    for attempt in range(1, 1000):
        run_dir = logdir / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a new run directory {logdir / base}-N")


def _has_strerror(error: BaseException) -> bool:
    return isinstance(error, OSError) and bool(error.strerror) and error.filename is None


def _remove_if_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:  # not empty (or already gone): keep it
        pass


def record_command(run_dir: Path, script: str, argv: Sequence[str]) -> None:
    """Append the command line to ``run_dir/command.txt`` (one line per start or resume)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / COMMAND_FILE).open("a") as f:
        f.write(shlex.join(["python", script, *argv]) + "\n")


def main(
    agent: str,
    default_preset: str,
    argv: Sequence[str] | None = None,
    script: str | None = None,
) -> int:
    """Run the command line of ``agent``; returns the process exit status.

    ``script`` is the entry point's path as recorded in the run's ``command.txt`` (default
    ``train/<agent>_agent.py``).
    """
    parser = build_parser(agent, default_preset)
    argv = list(sys.argv[1:] if argv is None else argv)
    script = script or f"train/{agent}_agent.py"
    args = parser.parse_args(argv)
    try:
        if args.eval and args.resume:
            raise ValueError("give --eval or --resume, not both")
        if args.eval:
            reject_flags(args, EVAL_OVERRIDES, "--eval")
            changes = {k: v for k, v in given_fields(args).items() if k != "final_eval_canvases"}
            greedy, mc = evaluate_checkpoint(
                args.eval,
                num_canvases=args.final_eval_canvases,
                split=args.eval_split or "test",
                **changes,
            )
            print(greedy)
            print(mc)
            return 0
        if args.resume:
            reject_flags(args, RESUME_OVERRIDES, "--resume")
            trainer = Trainer.from_checkpoint(
                args.resume, progress=not args.no_progress, **given_fields(args)
            )
            print(f"Resuming {trainer.run_dir} at update {trainer.update}")
        else:
            if args.eval_split is not None:
                raise ValueError("--eval-split only applies to --eval")
            config = config_from_args(args, default_preset)
            if config.agent != agent:
                raise ValueError(
                    f"preset {config.preset!r} is for agent {config.agent!r}; this script trains "
                    f"{agent!r} (use train/{config.agent}_agent.py)"
                )
            foreign = foreign_fields(agent, given_fields(args))
            if foreign:
                flags = ", ".join(_flag(name) for name in foreign)
                verb = "does" if len(foreign) == 1 else "do"
                raise ValueError(f"{flags} {verb} not apply to {agent.upper()}; drop them")
            logdir = Path(args.logdir or "runs")
            run_dir = new_run_dir(logdir, config.preset)
            try:
                trainer = Trainer(config, run_dir, progress=not args.no_progress)
            except BaseException:
                _remove_if_empty(run_dir)  # a failed start leaves no empty run directory
                raise
            print(f"Run directory: {run_dir}  (tensorboard --logdir {logdir})")
        with exclusive_lock(trainer.run_dir / RUN_LOCK, f"training in {trainer.run_dir}"):
            record_command(trainer.run_dir, script, argv)
            result = trainer.train()
    except (ValueError, OSError) as error:  # incl. FileNotFoundError, UnsafeFileError
        print(f"error: {error.strerror if _has_strerror(error) else error}", file=sys.stderr)
        return 2
    except TrainingDiverged as error:
        print(f"error: training diverged: {error}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:  # only reaches here after training: the final evaluation
        checkpoint = trainer.checkpoint_path()
        print(
            f"interrupted during the final evaluation; the trained weights are in {checkpoint}: "
            f"python {script} --eval {checkpoint} scores them",
            file=sys.stderr,
        )
        return 130
    if result.interrupted:
        return 130
    print(f"Finished {result.update} updates in {result.wall_clock_s:.0f} s: {result.run_dir}")
    print(result.greedy)
    print(result.mc)
    print(f"Curves, losses and glimpse paths: tensorboard --logdir {result.run_dir.parent}")
    return 0


def ram_main() -> int:
    """Console command ``glimpse-train-ram`` (= ``python train/ram_agent.py``)."""
    return main("ram", "ram-cluttered60-6g")


def dram_main() -> int:
    """Console command ``glimpse-train-dram`` (= ``python train/dram_agent.py``)."""
    return main("dram", "dram-cluttered60-6g")


def edram_main() -> int:
    """Console command ``glimpse-train-edram`` (= ``python train/edram_agent.py``)."""
    return main("edram", "edram-cluttered100-small")
