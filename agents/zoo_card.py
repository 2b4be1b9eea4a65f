"""Publish trained weights to the zoo: ``models/<name>.safetensors`` and its card
``models/<name>.json``.

    python -m agents.zoo_card runs/<run>/checkpoint.pt --name ram-cluttered60-6g
    python -m agents.zoo_card runs/<run>/checkpoint.pt --name ram-cluttered60-6g --if-better

The weights are written as a zoo file (safetensors, float16: :mod:`agents.zoo`), loaded back
through :func:`agents.zoo.load` (the path every user takes) and scored on the fixed canvases:
greedy and Monte-Carlo on the 10,000 ``valid`` canvases and on the 10,000 ``test`` canvases,
plus greedy on the first 1,000 test canvases (what the CI check re-measures). The card records
all of it with the configuration, the command chain, the work that went into the weights, the
machine, the torch version, the commit, and the run's validation curve (``valid_curve``:
``[[updates, wall_clock_s, greedy valid error %], ...]``, as the SB3 cards' with updates for
env steps; over the whole chain when each warm start stayed on the same task).

``--if-better`` replaces an existing zoo model only if the new one has a lower **validation**
error (Monte-Carlo; greedy for deterministic agents): selection never reads the test split. A
candidate is scored on ``valid`` first, and on ``test`` only once it is to be written, so the test
error of a model the zoo does not keep is never computed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from agents import zoo_retire
from agents.provenance import git_commit, machine
from agents.targets import TARGETS
from agents.training.registry import build_agent, glimpse_shape
from agents.weights import check_sha256, load_safetensors
from agents.zoo import (
    FORMAT,
    LEGACY_SUFFIX,
    SUFFIX,
    ZooAgent,
    card_path,
    check_name,
    load,
    models_dir,
    read_card,
    read_weights,
    run_valid_curve,
    save_zoo_model,
)
from glimpse_env.atomic import atomic_path, exclusive_lock, write_json_atomic

#: Test canvases re-scored by the CI check (tests/test_zoo.py).
CHECK_CANVASES = 1000
CARD_FORMAT = "glimpse-env-zoo-card-v1"


def target_summary(name: str, test_mc_pct: float) -> dict[str, Any] | None:
    """The card's ``target`` entry: the row's best public and paper figures, and whether the
    Monte-Carlo test error ``test_mc_pct`` beats each (None for a name without a target)."""
    target = TARGETS.get(name)
    if target is None:
        return None
    met = test_mc_pct < target.best_public
    return {
        "test_error_mc_pct": target.best_public,
        "source": target.source,
        "met": met,
        "missed_by_pct": None if met else round(test_mc_pct - target.best_public, 2),
        "paper_test_error_pct": target.paper,
        "paper_source": target.paper_source,
        "beats_paper": None if target.paper is None else test_mc_pct < target.paper,
    }


def selection_error(card: dict[str, Any]) -> float:
    """The validation error a card is compared on (Monte-Carlo)."""
    return float(card["valid"]["mc"]["error_pct"])


def score_split(agent: ZooAgent, split: str, canvases: int, progress: bool) -> dict[str, Any]:
    """``{"greedy": ..., "mc": ...}`` (:meth:`agents.evaluation.EvalResult.summary` each) of a
    loaded zoo agent on the first ``canvases`` canvases of ``split``."""
    greedy, mc = agent.evaluate(split, canvases, progress=progress)
    return {"greedy": greedy.summary(), "mc": mc.summary()}


def build_card(
    name: str,
    model_path: Path,
    notes: str = "",
    progress: bool = True,
    valid_curve: list[list[float]] | None = None,
    valid: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score the zoo file at ``model_path`` and return its card (see the module docstring).

    The valid and test figures use the file's ``final_eval_canvases`` (10,000 for the zoo).
    ``valid_curve``: the training run's validation reports (:func:`run_valid_curve`).
    ``valid``: the file's :func:`score_split` on ``valid`` when it is already measured."""
    agent = load(model_path)
    config, lineage = agent.config, agent.weights.lineage
    canvases = config.final_eval_canvases
    if valid is None:
        valid = score_split(agent, "valid", canvases, progress)
    test = score_split(agent, "test", canvases, progress)
    check, _ = agent.evaluate("test", min(CHECK_CANVASES, canvases))
    card: dict[str, Any] = {
        "format": CARD_FORMAT,
        "name": name,
        "agent": config.agent,
        "preset": config.preset,
        "env_id": config.env_id,
        "weights_file": model_path.name,
        "weights_format": FORMAT,
        "weights_dtype": agent.weights.stored_dtype,
        "weights_sha256": agent.weights.sha256,
        "weights_bytes": model_path.stat().st_size,
        "parameters": sum(p.numel() for p in agent.model.parameters()),
        "valid": valid,
        "test": test,
        "check": {"split": "test", "mode": "greedy", **check.summary()},
        "eval_seed": config.eval_seed,
        "mc_samples": config.mc_samples,
        "deterministic": config.agent == "edram",
        "target": target_summary(name, test["mc"]["error_pct"]),
        "updates": lineage["updates"],
        "samples": lineage["samples"],
        "wall_clock_s": lineage["wall_clock_s"],
        "command_chain": lineage["commands"],
        "eval_command": f"python train/{config.agent}_agent.py --eval {name}",
        "machine": machine(),
        "commit": git_commit(),
        "written": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "notes": notes,
        "valid_curve": valid_curve or [],
        "config": config.to_dict(),
    }
    return card


def publish(
    source: str | os.PathLike,
    name: str,
    directory: Path | None = None,
    if_better: bool = False,
    notes: str = "",
    progress: bool = True,
    canvases: int = 10_000,
    retire_as: str | None = None,
    why: str = "",
    retired_dir: Path | None = None,
) -> tuple[bool, dict[str, Any]]:
    """Write ``<directory>/<name>.safetensors`` and ``.json`` from a checkpoint or zoo file.

    The weights are stored as float16 and the card is scored on the stored weights. A zoo file
    of the first format (``<name>.pt``) that the new one replaces is removed.

    ``canvases``: valid and test canvases scored (10,000: every digit of each split once).
    Returns ``(written, card)``. With ``if_better``, an existing model with a lower or equal
    validation error is kept: ``written`` is False and ``card`` is the candidate's
    ``{"name", "valid"}`` only, as its test split is not scored.

    ``retire_as``: when the new model replaces an existing one, that one is retired as
    ``<name>-<retire_as>`` with the reason ``why`` (:mod:`agents.zoo_retire`: its card and a
    restore command to ``retired_dir``, default ``results/retired/``); checked before scoring.
    """
    check_name(name)
    directory = Path(directory or models_dir())
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"--models-dir {directory} is not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(directory / f".{name}.lock", f"publishing {name!r} into {directory}"):
        retirement = None
        if retire_as is not None:
            retirement = zoo_retire.plan(name, retire_as, why, directory, retired_dir)
        written, card = _publish(source, name, directory, if_better, notes, progress, canvases)
        if written and retirement is not None:
            retirement.record()
        return written, card


def _publish(
    source: str | os.PathLike,
    name: str,
    directory: Path,
    if_better: bool,
    notes: str,
    progress: bool,
    canvases: int,
) -> tuple[bool, dict[str, Any]]:
    final = directory / f"{name}{SUFFIX}"
    current = None
    if if_better and card_path(final).is_file():  # read before minutes of scoring
        current = read_card(card_path(final))
    weights = read_weights(source)
    config = weights.config
    config.final_eval_canvases = canvases  # what --eval of the zoo file scores, as the card
    model = build_agent(config, glimpse_shape(config))
    model.load_state_dict(weights.state)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".publishing-") as scratch:
        candidate = Path(scratch) / f"{name}{SUFFIX}"
        save_zoo_model(candidate, name, config, model, weights.lineage)
        valid = score_split(load(candidate), "valid", canvases, progress)
        if current is not None and selection_error({"valid": valid}) >= selection_error(current):
            return False, {"name": name, "valid": valid}
        curve = run_valid_curve(Path(source))
        if not curve and weights.card:  # republishing a zoo file: its run's curve
            curve = weights.card.get("valid_curve", [])
        card = build_card(name, candidate, notes, progress, curve, valid)
        facts = {
            "valid_mc_error_pct": card["valid"]["mc"]["error_pct"],
            "test_mc_error_pct": card["test"]["mc"]["error_pct"],
            "test_greedy_error_pct": card["test"]["greedy"]["error_pct"],
            # The whole card but its file size, so that the file alone is the zoo entry.
            CARD_KEY: json.dumps({k: v for k, v in card.items() if k != "weights_bytes"}),
        }
        # The same tensors again, now with the card in the metadata.
        sha = save_zoo_model(candidate, name, config, model, weights.lineage, facts)
        if sha != card["weights_sha256"]:
            raise RuntimeError(f"{name}: the weights changed while the card was written")
        card["weights_bytes"] = candidate.stat().st_size
        # The commit point: one rename. A crash before the card below is written leaves a card
        # that --sync-card restores from the file.
        os.replace(candidate, final)
    write_json_atomic(card_path(final), card)
    (directory / f"{name}{LEGACY_SUFFIX}").unlink(missing_ok=True)
    return True, card


#: Metadata key of the card embedded in a zoo file.
CARD_KEY = "card"


def embed_card(model_path: str | os.PathLike) -> None:
    """Put the card beside a zoo file into the file's metadata (a file published before cards
    were embedded); the tensors are rewritten unchanged and their sha256 is checked."""
    model_path = Path(model_path)
    card = read_card(card_path(model_path))
    tensors, metadata = load_safetensors(model_path, "zoo model")
    check_sha256(tensors, card["weights_sha256"], str(model_path))
    metadata[CARD_KEY] = json.dumps({k: v for k, v in card.items() if k != "weights_bytes"})
    with atomic_path(model_path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    card["weights_bytes"] = model_path.stat().st_size
    write_json_atomic(card_path(model_path), card)


def sync_card(model_path: str | os.PathLike) -> Path:
    """Rewrite the card beside a zoo file from the card embedded in the file (after a publish
    that was stopped between its two writes). Returns the card's path."""
    model_path = Path(model_path)
    if not model_path.is_file():
        raise ValueError(f"{model_path} is not a zoo file")
    try:
        with safe_open(model_path, framework="pt") as stored:
            metadata = stored.metadata() or {}
    except (SafetensorError, OSError) as error:
        raise ValueError(f"{model_path} is not a safetensors zoo file: {error}") from None
    if CARD_KEY not in metadata:
        raise ValueError(f"{model_path} has no embedded card (published before cards were)")
    try:
        card = json.loads(metadata[CARD_KEY])
    except (json.JSONDecodeError, RecursionError):
        raise ValueError(f"{model_path}: its embedded card is not readable JSON") from None
    if not isinstance(card, dict):
        raise ValueError(f"{model_path}: its embedded card is not a JSON object")
    if card.get("weights_sha256") != metadata.get("weights_sha256"):
        raise ValueError(f"{model_path}: its embedded card describes other weights")
    card["weights_bytes"] = model_path.stat().st_size
    return write_json_atomic(card_path(model_path), card)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", nargs="?", help="a training checkpoint.pt (or a zoo file)")
    parser.add_argument("--name", help="zoo name, e.g. ram-cluttered60-6g (required to publish)")
    parser.add_argument(
        "--sync-card",
        metavar="MODEL",
        help="only rewrite the card of this zoo file from the card embedded in it (after a "
        "publish stopped between writing the file and its card)",
    )
    parser.add_argument("--models-dir", type=Path, default=None, help="default: models/")
    parser.add_argument(
        "--if-better", action="store_true", help="replace only on a lower validation error"
    )
    parser.add_argument("--notes", default="", help="free text for the card")
    parser.add_argument(
        "--retire-as",
        metavar="LABEL",
        help="retire the model this one replaces as <name>-LABEL (results/retired/: its card and "
        "the command that restores it from git history); needs --why",
    )
    parser.add_argument("--why", default="", help="with --retire-as: one line, why it leaves")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.retire_as is not None and not args.why.strip():
        parser.error("--retire-as needs --why")
    # `kill` ends a publish like Ctrl-C: the scratch directory and the lock are cleaned up.
    signal.signal(signal.SIGTERM, _interrupt)
    if args.sync_card:
        try:
            print(f"wrote {sync_card(args.sync_card)}")
        except (ValueError, OSError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        return 0
    if not args.source or not args.name:
        parser.error("publishing needs SOURCE and --name")
    try:
        written, card = publish(
            args.source, args.name, args.models_dir, args.if_better, args.notes,
            progress=not args.no_progress, retire_as=args.retire_as, why=args.why,
        )  # fmt: skip
    except (ValueError, OSError, SafetensorError) as error:  # an unwritable dir, a full disk
        text = error.strerror if isinstance(error, OSError) and error.strerror else error
        where = f" ({error.filename})" if isinstance(error, OSError) and error.filename else ""
        print(f"error: {text}{where}; the zoo is as it was", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: {args.name} was not published; the zoo is as it was", file=sys.stderr)
        return 130
    v = card["valid"]
    print(
        f"{args.name}: valid MC {v['mc']['error_pct']:.2f}% ({v['mc']['errors']}/"
        f"{v['mc']['canvases']}), greedy {v['greedy']['error_pct']:.2f}%"
    )
    if not written:
        print("not written: the zoo model has an equal or lower valid error (test not scored)")
        return 0
    mc, greedy = card["test"]["mc"], card["test"]["greedy"]
    print(
        f"written; test MC {mc['error_pct']:.2f}% ({mc['errors']}/{mc['canvases']}), "
        f"greedy {greedy['error_pct']:.2f}% ({greedy['errors']}/{greedy['canvases']})"
    )
    if args.retire_as is not None:
        print(f"retired the model it replaced as {args.name}-{args.retire_as} (results/retired/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
