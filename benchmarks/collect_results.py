"""Collect finished training runs into ``results/<family>.json``, ``.md`` and curve PNGs.

    python benchmarks/collect_results.py runs/ram-cluttered60-6g-<time> runs/dram-<...>-<time>
    python benchmarks/collect_results.py      # rewrite the tables from results/<family>.json

The family (``ram``, ``dram``, ``edram``) of each run is read from its ``config.json``; runs of
several families may be given at once. Each run directory must hold ``config.json``,
``final.json``, ``metrics.jsonl`` and ``command.txt`` (written by the ``train/*_agent.py``
scripts). ``results/<family>.md`` is the generated table followed by the hand-written
``results/<family>_notes.md``. Entries of runs not named on the command line stay in
``results/<family>.json`` as they were, so runs can be added one at a time. The key of an entry is
the run's preset, or ``preset + label`` with ``--label`` (for ablations on the same preset). A
new run of a preset replaces its entry; ``--keep-as +seed1`` keeps the old one as
``preset+seed1`` (with its curve image), e.g. when another seed of the same command takes the key.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from figures import pyplot, save_png

from agents.runs.final import read_final
from agents.runs.log import EVAL_KEY, evaluations, read_metrics
from agents.targets import TARGETS
from agents.training.config import TrainConfig
from glimpse_env.atomic import atomic_path, write_json_atomic

#: Per family: the title of the table, and the config fields worth a column in the JSON.
FAMILIES: dict[str, dict[str, Any]] = {
    "ram": dict(
        title="RAM reproduction (Mnih et al. 2014)",
        fields=("reinforce_trains_core", "core", "location_std", "lr_decay_every"),
        mc="*MC* averages class probabilities over 10 sampled glimpse paths per canvas; "
        "*greedy* follows the policy mean.",
    ),
    "dram": dict(
        title="DRAM / L-DRAM reproduction (Ba, Mnih, Kavukcuoglu 2014)",
        fields=(
            "location_std",
            "lr_decay_every",
            "context_size",
            "num_scales",
            "location_loss_weight",
            "location_labels",
        ),
        mc="*MC* averages class probabilities over 10 sampled glimpse paths per canvas; "
        "*greedy* follows the policy mean.",
    ),
    "edram": dict(
        title="EDRAM reproduction (Ablavatski, Lu, Cai 2017)",
        fields=("lr", "lr_decay_every", "hidden", "conv_channels", "window_size"),
        mc="EDRAM is deterministic (no sampled paths), so *MC* equals *greedy*.",
    ),
}


def collect(run_dir: Path, label: str = "") -> tuple[str, str, dict[str, Any]]:
    """``(family, key, entry)`` of one finished run directory.

    Raises:
        FileNotFoundError: if the run has no ``final.json`` (it has not finished).
    """
    config = json.loads((run_dir / "config.json").read_text())
    final = read_final(run_dir)
    commands = (run_dir / "command.txt").read_text().strip().splitlines()
    family = config["agent"]
    entry = {
        "test_error": final.test_error_mc,
        "test_error_greedy": final.test_error_greedy,
        "test_errors_mc": final.test_errors_mc,
        "test_errors_greedy": final.test_errors_greedy,
        "test_canvases": final.canvases,
        "valid_error": final.valid_error_mc,
        "valid_error_greedy": final.valid_error_greedy,
        "updates": final.progress,
        "batch_size": config["batch_size"],
        "wall_clock_s": final.wall_clock_s,
        "command": " && ".join(commands),
        "device": config["device"],
    }
    resolved = TrainConfig.from_dict(config, saved=True)  # with the defaults left out
    entry.update({name: getattr(resolved, name) for name in FAMILIES[family]["fields"]})
    return family, config["preset"] + label, entry


def plot_curve(run_dir: Path, title: str, path: Path) -> None:
    """Train/test error (log scale) and the loss terms against updates, as one PNG."""
    plt = pyplot()

    records = read_metrics(run_dir)
    train = [r for r in records if "train/accuracy" in r]
    evals = evaluations(records)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.plot([r["update"] for r in train], [100 * (1 - r["train/accuracy"]) for r in train],
             lw=0.8, label="train error")  # fmt: skip
    ax1.plot([r["update"] for r in evals], [r[EVAL_KEY] for r in evals],
             "o-", label="valid error, greedy (eval subset)")  # fmt: skip
    finals = [r for r in records if "test/error_mc" in r]
    if finals:
        ax1.plot([finals[-1]["update"]], [finals[-1]["test/error_mc"]], "r*", ms=12,
                 label=f"final test error, MC ({finals[-1]['test/error_mc']:.2f}%)")  # fmt: skip
    ax1.set_yscale("log")
    ax1.set_xlabel("update")
    ax1.set_ylabel("error (%)")
    ax1.grid(True, which="both", alpha=0.3)
    ax1.legend()
    loss_tags = sorted({t for r in train for t in r if t.startswith("loss/") and t != "loss/total"})
    for tag in loss_tags:
        ax2.plot([r["update"] for r in train], [r[tag] for r in train], lw=0.8, label=tag)
    ax2.set_xlabel("update")
    ax2.set_ylabel("loss term")
    ax2.grid(True, alpha=0.3)
    ax2.legend()
    fig.suptitle(title)
    save_png(fig, path)


def write_markdown(
    family: str, results: dict[str, dict[str, Any]], path: Path, notes: Path
) -> None:
    """The table of ``results``, followed by the hand-written ``notes`` file if it exists."""
    lines = [
        f"# {FAMILIES[family]['title']}",
        "",
        "Generated by `python benchmarks/collect_results.py RUN_DIR ...` from the runs' own files.",
        "Test error is on the 10,000 MNIST **test** digits, each once, on canvases fixed by",
        "`eval_seed` (the same for every run and agent). " + FAMILIES[family]["mc"],
        "Every figure is the run's final checkpoint, scored by the trainer at its end; a row's",
        "zoo model (`docs/zoo.md`) may be the run's `best.pt` instead, chosen on `valid`.",
        "*Valid MC* is the same evaluation on the 10,000 `valid` digits (runs made before the",
        "`valid` split existed have none). Wall-clock includes evaluation. Targets and paper",
        "figures are the zoo's (`agents.targets.TARGETS`): the best published figure for the",
        "row, and the paper's.",
        "",
        "| run | updates (batch) | wall-clock | test error MC | greedy | valid MC | target "
        "| paper | command |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, r in sorted(results.items()):
        preset = key.split("+")[0]
        target = TARGETS.get(preset)
        verdict, paper = "", ""
        if target is not None:
            gap = r["test_error"] - target.best_public
            verdict = (
                f"{target.best_public:.2f}% ({'met' if gap < 0 else f'missed by {gap:.2f} pt'})"
            )
            paper = "" if target.paper is None else f"{target.paper:.2f}%"
        minutes = r["wall_clock_s"] / 60
        valid = r.get("valid_error")
        valid_cell = "—" if valid is None else f"{valid:.2f}%"
        lines.append(
            f"| {key} | {r['updates']:,} ({r['batch_size']}) | {minutes:.0f} min "
            f"| **{r['test_error']:.2f}%** ({r['test_errors_mc']}/{r['test_canvases']}) "
            f"| {r['test_error_greedy']:.2f}% | {valid_cell} | {verdict} | {paper} "
            f"| `{r['command']}` |"
        )
    lines.append("")
    if notes.exists():
        lines += [notes.read_text().rstrip(), ""]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines))


def read_table(json_path: Path) -> dict[str, Any]:
    """The entries of ``results/<family>.json`` ({} before the family's first run)."""
    return json.loads(json_path.read_text()) if json_path.exists() else {}


def curve_png(results_dir: Path, key: str) -> Path:
    """The learning-curve image of entry ``key`` (``+`` becomes ``_`` in the file name)."""
    return results_dir / f"{key.replace('+', '_')}.png"


def keep_entry(results: dict[str, Any], key: str, new_key: str, results_dir: Path) -> None:
    """Move entry ``key`` (and its curve image) to ``new_key``, making room for a new run."""
    results[new_key] = results.pop(key)
    if curve_png(results_dir, key).exists():
        curve_png(results_dir, key).replace(curve_png(results_dir, new_key))
    print(f"{key}: the previous entry is kept as {new_key}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", type=Path,
                        help="finished run directories (none: rewrite every family's table "
                        "from its JSON)")  # fmt: skip
    parser.add_argument("--label", default="", help="suffix of the entries' keys, e.g. +core")
    parser.add_argument(
        "--keep-as",
        metavar="SUFFIX",
        help="keep an entry that a new run's key already holds as KEY+SUFFIX (e.g. +seed1; its "
        "curve PNG is renamed with it) instead of replacing it",
    )
    parser.add_argument("--results", type=Path, default=Path("results"))
    args = parser.parse_args()
    if args.keep_as is not None and not args.keep_as.startswith("+"):
        parser.error(f"--keep-as {args.keep_as!r}: a key suffix starts with '+', e.g. +seed1")
    collected = [collect(run_dir, args.label) for run_dir in args.runs]
    families = {family for family, _, _ in collected}
    if not args.runs:
        families = {family for family in FAMILIES if (args.results / f"{family}.json").exists()}
    tables = {family: read_table(args.results / f"{family}.json") for family in families}
    for family, key, _ in collected:  # before anything is written
        if args.keep_as and key in tables[family] and key + args.keep_as in tables[family]:
            sys.exit(f"error: --keep-as: {key + args.keep_as!r} is taken; choose another suffix")
    for family in sorted(families):
        json_path = args.results / f"{family}.json"
        results = tables[family]
        for run_dir, (run_family, key, entry) in zip(args.runs, collected, strict=True):
            if run_family != family:
                continue
            if args.keep_as and key in results:
                keep_entry(results, key, key + args.keep_as, args.results)
            results[key] = entry
            plot_curve(run_dir, f"{key}: {entry['test_error']:.2f}% test error (MC)",
                       curve_png(args.results, key))  # fmt: skip
            print(f"{key}: {entry['test_error']:.2f}% MC, {entry['test_error_greedy']:.2f}% greedy")
        write_json_atomic(json_path, results, sort_keys=True)
        write_markdown(
            family, results, args.results / f"{family}.md", args.results / f"{family}_notes.md"
        )


if __name__ == "__main__":
    main()
