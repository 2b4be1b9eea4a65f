"""The command line shared by ``train/ram_agent.py`` and the other REINFORCE agents' scripts.

Every :class:`agents.training.config.TrainConfig` field is a flag (``location_std`` ->
``--location-std``), with its docstring entry as help; flags override the chosen ``--preset``.
``--resume RUN_DIR`` continues a run from its checkpoint, ``--eval PATH`` only evaluates a
checkpoint or zoo model, and ``--card CHECKPOINT --name NAME`` publishes one to the zoo.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents import zoo_card
from agents.config_io import add_config_flags, field_help
from agents.config_io import given_fields as config_fields
from agents.runs.directory import (
    RUN_LOCK,
    new_run_dir,
    one_line_warnings,
    record_command,
    remove_if_empty,
    resume_checkpoint,
)
from agents.training.config import CONFIG_CLASSES, EVAL_OVERRIDES, TrainConfig, foreign_fields
from agents.training.presets import PRESETS, preset_config
from agents.training.trainer import RESUME_OVERRIDES, Trainer, TrainingDiverged
from agents.zoo import evaluate_checkpoint
from glimpse_env.atomic import exclusive_lock
from glimpse_env.data.sources import folder_to_dataset
from glimpse_env.envs import TaskConfig

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
    parser.add_argument(
        "--resume", metavar="RUN_DIR", help="continue this run from its checkpoint.pt"
    )
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
    parser.add_argument(
        "--image-folder", metavar="DIR", help="train on your own images, DIR/<class>/<image>: they "
        "are written to RUN/images.hdf5 (grey or colour as the images are, fitted inside the "
        "task's canvas size, 10%% valid and 10%% test held out, seeded by --seed; --channels 1 "
        "or 3 converts them) and set --dataset-path, --classes and --channels",
    )  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    card_group = parser.add_argument_group(
        "--card: publish to the zoo (the same as python -m agents.zoo_card CHECKPOINT --name ...)"
    )
    card_group.add_argument(
        "--card", metavar="CHECKPOINT", help="score this checkpoint and write it to models/ with "
        "its card (models/<name>.safetensors and .json)",
    )  # fmt: skip
    card_group.add_argument("--name", help="the zoo name (with --card), e.g. ram-cluttered60-6g")
    card_group.add_argument(
        "--if-better", action="store_true", help="replace a zoo model only on a lower valid error"
    )
    card_group.add_argument("--card-notes", default="", help="free text for the card")
    card_group.add_argument(
        "--retire-as", metavar="LABEL", help="retire the zoo model this one replaces as "
        "<name>-LABEL (results/retired/, restorable from git history); needs --why",
    )  # fmt: skip
    card_group.add_argument("--why", default="", help="with --retire-as: why it leaves the zoo")
    config_group = parser.add_argument_group(
        "config fields (default: the preset's value; `python -c \"from agents.training.config "
        "import preset_config; print(preset_config('NAME'))\"` shows a preset)"
    )
    # Every family's fields are flags, so that one of another family gets a clear error.
    added = set(_OWN)
    for cls in (TrainConfig, *CONFIG_CLASSES.values()):
        add_config_flags(
            config_group, cls, skip=added, show_defaults=False, aliases=_ALIASES,
            helps=field_help(TaskConfig),  # a task field's help is the task's own
        )  # fmt: skip
        added |= {f.name for f in dataclasses.fields(cls)}
    return parser


def _agent_of(values: dict[str, Any]) -> str:
    return values.get("agent", "ram")


def given_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The config fields of any family given on the command line (flags left out are
    ``None``)."""
    given: dict[str, Any] = {}
    for cls in CONFIG_CLASSES.values():
        given.update(config_fields(args, cls, skip=_OWN))
    return given


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


def _has_strerror(error: BaseException) -> bool:
    return isinstance(error, OSError) and bool(error.strerror) and error.filename is None


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
    args = parser.parse_args(argv)
    with one_line_warnings():
        return _run(agent, default_preset, args, argv, script or f"train/{agent}_agent.py")


def _run(
    agent: str, default_preset: str, args: argparse.Namespace, argv: list[str], script: str
) -> int:
    if args.card:
        return _publish(args)
    trainer: Trainer | None = None
    try:
        if args.eval and args.resume:
            raise ValueError("give --eval or --resume, not both")
        if args.image_folder and (args.eval or args.resume):
            raise ValueError(
                "--image-folder starts a new run; --eval and --resume use the run's data"
            )
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
                resume_checkpoint(args.resume), progress=not args.no_progress, **given_fields(args)
            )
            print(f"Resuming {trainer.run_dir} at update {trainer.update}")
        else:
            if args.eval_split is not None:
                raise ValueError("--eval-split only applies to --eval")
            preset_agent = _agent_of(PRESETS.get(args.preset or default_preset, {}))
            if args.preset in PRESETS and preset_agent != agent:
                raise ValueError(
                    f"preset {args.preset!r} is for agent {preset_agent!r}; this script trains "
                    f"{agent!r} (use train/{preset_agent}_agent.py)"
                )
            foreign = foreign_fields(agent, given_fields(args))
            if foreign:
                flags = ", ".join(_flag(name) for name in foreign)
                verb = "does" if len(foreign) == 1 else "do"
                raise ValueError(f"{flags} {verb} not apply to {agent.upper()}; drop them")
            config = config_from_args(args, default_preset)
            if config.agent != agent:
                raise ValueError(
                    f"--agent {config.agent!r}: this script trains {agent!r} (use "
                    f"train/{config.agent}_agent.py)"
                )
            config = _sized_to_the_run(config, given_fields(args))
            logdir = Path(args.logdir or "runs")
            name = config.preset
            if args.image_folder:
                name = f"{agent}-images-{_slug(Path(args.image_folder).resolve().name)}"
            run_dir = new_run_dir(logdir, name)
            try:
                if args.image_folder:
                    config = _with_images(
                        config, Path(args.image_folder), run_dir, given_fields(args)
                    )
                trainer = Trainer(config, run_dir, progress=not args.no_progress)
                print(
                    f"Final evaluation: greedy and Monte-Carlo on {config.final_eval_canvases:,} "
                    "valid and as many test canvases (--final-eval-canvases)"
                )
            except BaseException:
                remove_if_empty(run_dir)  # a failed start leaves no empty run directory
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
    except KeyboardInterrupt:  # training handles its own Ctrl-C; this is --eval or the final one
        if trainer is None:
            print("interrupted", file=sys.stderr)
            return 130
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


#: The final evaluation of a run shorter than its preset's schedule, unless given.
SHORT_RUN_FINAL_CANVASES = 1000


def _sized_to_the_run(config: TrainConfig, given: dict[str, Any]) -> TrainConfig:
    """``config`` with the final evaluation sized to the run: the preset's figure for its full
    schedule, :data:`SHORT_RUN_FINAL_CANVASES` for a run given fewer ``--updates`` (unless
    ``--final-eval-canvases`` is given)."""
    if "final_eval_canvases" in given or "updates" not in given or config.preset not in PRESETS:
        return config
    full = preset_config(config.preset)
    if config.updates >= full.updates:
        return config
    canvases = min(config.final_eval_canvases, SHORT_RUN_FINAL_CANVASES)
    return dataclasses.replace(config, final_eval_canvases=canvases)


def _slug(text: str) -> str:
    """A run-directory-safe form of ``text``: letters, digits, ``.``, ``_`` and ``-``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "folder"


def _with_images(
    config: TrainConfig, root: Path, run_dir: Path, given: dict[str, Any]
) -> TrainConfig:
    """``config`` training on the image folder ``root``, written into ``run_dir/images.hdf5``
    (:func:`glimpse_env.data.sources.folder_to_dataset`; converted to ``config.channels`` when
    set) with its classes and channels. Evaluation sizes not given follow the held-out splits:
    never more canvases than ``valid`` or ``test`` has images, with one line saying so."""
    if config.dataset_path is not None or config.classes is not None:
        raise ValueError("--image-folder sets --dataset-path and --classes itself; drop them")
    size = config.task_kwargs()["canvas_size"]
    path, source = folder_to_dataset(
        root, run_dir / "images.hdf5", size, seed=config.seed, channels=config.channels
    )
    print(
        f"{root}: {len(source)} images of {source.num_classes} classes "
        f"({', '.join(source.class_names)}), {source.channels} channel(s); {source.split_note} "
        f"-> {path}"
    )
    rows = min(len(source["valid"]), len(source["test"]))
    if rows == 0:
        raise ValueError(
            f"{root}: the held-out valid and test splits have {len(source['valid'])} and "
            f"{len(source['test'])} images; the folder needs more images per class"
        )
    sizes = {}
    for name in ("eval_canvases", "final_eval_canvases"):
        if name not in given and getattr(config, name) > rows:
            sizes[name] = rows
    if sizes:
        flags = " and ".join(f"--{n.replace('_', '-')}" for n in sizes)
        print(f"{root}: valid and test hold {rows}+ images each: {flags} set to {rows}")
    return TrainConfig.from_dict(
        {**config.to_dict(), "dataset_path": str(path), "classes": source.num_classes,
         "channels": source.channels, "notes": config.notes or f"images of {root}", **sizes}
    )  # fmt: skip


def _publish(args: argparse.Namespace) -> int:
    """``--card``: publish a checkpoint through :func:`agents.zoo_card.main` (one publisher)."""
    others = [_flag(name) for name in given_fields(args)]
    others += [flag for flag, value in (("--resume", args.resume), ("--eval", args.eval),
               ("--preset", args.preset), ("--logdir", args.logdir)) if value]  # fmt: skip
    if others or not args.name:
        reason = f"{', '.join(others)} cannot be applied with --card" if others else ""
        print(f"error: {reason or '--card needs --name'}", file=sys.stderr)
        return 2
    argv = [args.card, "--name", args.name, "--notes", args.card_notes]
    argv += ["--if-better"] * args.if_better + ["--no-progress"] * args.no_progress
    if args.retire_as is not None:
        argv += ["--retire-as", args.retire_as, "--why", args.why]
    return zoo_card.main(argv)


def ram_main() -> int:
    """Console command ``glimpse-train-ram`` (= ``python train/ram_agent.py``)."""
    return main("ram", "ram-cluttered60-6g")


def dram_main() -> int:
    """Console command ``glimpse-train-dram`` (= ``python train/dram_agent.py``)."""
    return main("dram", "dram-cluttered60-6g")


def edram_main() -> int:
    """Console command ``glimpse-train-edram`` (= ``python train/edram_agent.py``)."""
    return main("edram", "edram-cluttered100-small")
