"""EDRAM glimpse by glimpse: the error after each glimpse and the windows' distance from the digit.

    python benchmarks/edram_glimpses.py edram-cluttered100-small
    python benchmarks/edram_glimpses.py runs/<run>/best.pt --canvases 2000 --png steps.png

EDRAM classifies after every glimpse and regresses every window to the digit's ground-truth
affine ``(sx, 0, tx, 0, sy, ty)`` (:meth:`glimpse_env.envs.core.GlimpseEpisodes.target_affine`).
This script scores a zoo model or checkpoint on the split's fixed evaluation canvases (the ones
``--eval`` scores, chosen by ``--eval-seed``) and prints, for each glimpse:

- the error of the answer given after it (the last glimpse's is the model's error);
- the same error when, from the second glimpse on, each window is moved to be centred on the
  digit (``EDRAM.forward(..., centres=...)``, scale and shear kept): what the windows' remaining
  offset from the digit costs;
- the mean absolute difference between the window and the target, per parameter, in the
  normalised units of :mod:`glimpse_env.affine_sensor` (``tx, ty``: half the canvas is 1, so
  ``0.02`` is one pixel on a 100-pixel canvas; ``sx, sy``: the window's size over the canvas's);
- the mean signed difference of ``tx`` and ``ty``: a bias the regression has left.

The default split is ``valid``: this is a diagnostic for deciding what to change.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from figures import pyplot, save_png

from agents.training.scorer import make_env
from agents.zoo import load
from glimpse_env.atomic import write_json_atomic
from glimpse_env.evaluation import evaluation_key

PARAMS = ("sx", "b", "tx", "c", "sy", "ty")


@dataclass
class GlimpseReport:
    """Per-glimpse figures over ``canvases`` canvases of ``split`` (lists have one entry a
    glimpse)."""

    model: str
    split: str
    canvases: int
    eval_seed: int
    error_pct: list[float]
    centred_error_pct: list[float]
    window_abs_error: dict[str, list[float]]
    window_bias: dict[str, list[float]]


@torch.no_grad()
def glimpse_report(
    model: torch.nn.Module, env, num_canvases: int, eval_seed: int, name: str = ""
) -> GlimpseReport:
    """Score EDRAM ``model`` on canvases ``0 .. num_canvases-1`` of the fixed evaluation stream
    of ``env`` (a torch-output :class:`GlimpseVectorEnv` of the model's task, the split's)."""
    key = evaluation_key(eval_seed)
    was_training = model.training
    model.eval()
    totals: tuple[torch.Tensor, ...] | None = None
    try:
        for start in range(0, num_canvases, env.num_envs):
            ids = np.arange(start, start + env.num_envs)
            env.reset_to(key, ids)
            keep = torch.from_numpy(ids < num_canvases).to(env.device)
            output = model(env.canvases)
            labels = env.episodes.answers[:, 0]
            target = env.episodes.target_affine()[:, 0]  # (N, 6)
            oracle = model(env.canvases, centres=target[:, [2, 5]])
            difference = output.thetas - target[:, None]  # (N, T, 6)
            batch = (
                (output.logits.argmax(-1) != labels[:, None])[keep].sum(0).double(),
                difference.abs()[keep].sum(0).double(),
                difference[keep].sum(0).double(),
                (oracle.logits.argmax(-1) != labels[:, None])[keep].sum(0).double(),
            )
            totals = batch if totals is None else tuple(map(torch.add, totals, batch))
    finally:
        model.train(was_training)
    wrong, abs_error, signed, oracle_wrong = totals
    abs_error, signed = (abs_error / num_canvases).T, (signed / num_canvases).T  # (6, T)
    return GlimpseReport(
        model=name,
        split=env.episodes.config.split,
        canvases=num_canvases,
        eval_seed=eval_seed,
        error_pct=[round(100.0 * float(w) / num_canvases, 2) for w in wrong],
        centred_error_pct=[round(100.0 * float(w) / num_canvases, 2) for w in oracle_wrong],
        window_abs_error={p: [round(float(v), 4) for v in abs_error[i]] for i, p in
                          enumerate(PARAMS) if p in ("sx", "tx", "sy", "ty")},
        window_bias={p: [round(float(v), 4) for v in signed[i]] for i, p in
                     enumerate(PARAMS) if p in ("tx", "ty")},
    )  # fmt: skip


def markdown(report: GlimpseReport) -> str:
    """The report as a Markdown table, one row a glimpse."""
    head = (
        "| glimpse | error | error, centred on the digit | abs(sx) | abs(sy) | abs(tx) | abs(ty) "
        "| bias tx | bias ty |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    rows = []
    for t, error in enumerate(report.error_pct):
        a, b = report.window_abs_error, report.window_bias
        rows.append(
            f"| {t + 1} | {error:.2f}% | {report.centred_error_pct[t]:.2f}% "
            f"| {a['sx'][t]:.3f} | {a['sy'][t]:.3f} | {a['tx'][t]:.3f} "
            f"| {a['ty'][t]:.3f} | {b['tx'][t]:+.3f} | {b['ty'][t]:+.3f} |"
        )
    return "\n".join([head, *rows])


def draw_png(report: GlimpseReport, path: Path) -> None:
    """The error and the window centre's distance from the digit's, against the glimpse."""
    plt = pyplot()
    steps = np.arange(1, len(report.error_pct) + 1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(steps, report.error_pct, marker="o", label="its own windows")
    left.plot(steps, report.centred_error_pct, marker="o", label="centred on the digit")
    left.legend()
    left.set(xlabel="glimpse", ylabel=f"{report.split} error (%)", title="answer after glimpse t")
    for p in ("tx", "ty"):
        right.plot(steps, report.window_abs_error[p], marker="o", label=f"|{p} - target|")
    right.set(xlabel="glimpse", ylabel="normalised units", title="window centre vs digit")
    right.legend()
    fig.suptitle(f"{report.model}: {report.canvases:,} {report.split} canvases")
    save_png(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="zoo name (models/<name>.pt) or checkpoint path")
    parser.add_argument("--split", choices=("valid", "test"), default="valid")
    parser.add_argument("--canvases", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--eval-seed", type=int, default=None, help="default: the model's")
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--png", type=Path, help="also draw it here")
    args = parser.parse_args(argv)
    if args.canvases < 1 or args.batch_size < 1:
        parser.error("--canvases and --batch-size must be positive")
    try:
        agent = load(args.model)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if agent.config.agent != "edram":
        print(f"error: {args.model} is a {agent.config.agent} model, not EDRAM", file=sys.stderr)
        return 2
    eval_seed = agent.config.eval_seed if args.eval_seed is None else args.eval_seed
    env = make_env(agent.config, args.split, min(args.batch_size, args.canvases))
    report = glimpse_report(agent.model, env, args.canvases, eval_seed, name=str(args.model))
    print(markdown(report))
    if args.json:
        write_json_atomic(args.json, asdict(report))
    if args.png:
        draw_png(report, args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
