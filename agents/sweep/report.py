"""What a finished sweep writes: ``trials.json``, ``best.json``, the trials table and
``sweep.png`` (validation error against each dimension and against progress)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agents.runs.final import PROGRESS_UNITS, family_of
from agents.runs.log import valid_curve
from agents.sweep.space import Dimension
from agents.sweep.trial import METRIC, PROGRESS, TrialSpec
from glimpse_env.atomic import write_json_atomic


def summarise(
    records: list[dict[str, Any]], dimensions: list[Dimension], spec: TrialSpec, root: Path
) -> dict[str, Any] | None:
    """Write ``trials.json``, ``best.json`` and ``sweep.png``; return the best trial.

    The best trial has the lowest validation error at its last report among the trials that ran
    the whole budget (ASHA's survivors), else among all."""
    unit = PROGRESS_UNITS[family_of(spec.agent)].replace("_", " ")
    trials = []
    for record in records:
        trial_id = record["trial_id"]
        # The run's own log has every evaluation, also those before a restart that Ray's
        # history of a restored trial may lack.
        logged = _logged_reports(Path(spec.runs_dir) / trial_id) if trial_id else []
        reports = logged or record["reports"]
        record = {**record, "reports": reports}
        last = reports[-1] if reports else None
        trials.append(
            {
                **record,
                "run_dir": str(Path(spec.runs_dir) / trial_id) if trial_id else None,
                "progress": last[PROGRESS] if last else 0,
                "progress_unit": unit,
                "valid_error": last[METRIC] if last else None,
                "stopped_early": bool(last) and last[PROGRESS] < spec.last_report,
            }
        )
    write_json_atomic(root / "trials.json", trials)
    scored = [t for t in trials if t["valid_error"] is not None]
    if not scored:
        return None
    complete = [t for t in scored if not t["stopped_early"]] or scored
    best = min(complete, key=lambda t: t["valid_error"])
    write_json_atomic(root / "best.json", best)
    plot_sweep(trials, dimensions, root / "sweep.png", best)
    write_trials_table(trials, root / "trials.md")
    return best


def write_trials_table(trials: list[dict[str, Any]], path: Path) -> None:
    """``trials.md``: one row per trial, best first, with its reports (generated from
    ``trials.json``; ``python -m agents.sweep.cli --table DIR`` rewrites it)."""
    names = list(trials[0]["params"]) if trials else []
    unit = trials[0]["progress_unit"] if trials else "updates"

    def fmt(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    order = sorted(
        trials,
        key=lambda t: (t["stopped_early"], t["valid_error"] is None, t["valid_error"] or 0.0),
    )
    lines = [
        f"| trial | {' | '.join(names)} | validation error at each report ({unit}) | ran |",
        "|" + " --- |" * (len(names) + 3),
    ]
    for t in order:
        reports = ", ".join(f"{r['valid_error']:.1f}% @ {r['progress']:,}" for r in t["reports"])
        ran = "stopped by ASHA" if t["stopped_early"] else "whole budget"
        params = " | ".join(fmt(t["params"][n]) for n in names)
        lines.append(f"| `{t['trial_id']}` | {params} | {reports or '-'} | {ran} |")
    path.write_text("\n".join(lines) + "\n")


def _logged_reports(run_dir: Path) -> list[dict[str, Any]]:
    """The validation reports in a trial's ``metrics.jsonl`` (every family logs them the same
    way, :func:`agents.runs.log.valid_curve`)."""
    reports = {int(p): e for p, _, e in valid_curve(run_dir)}
    return [{PROGRESS: p, METRIC: e} for p, e in sorted(reports.items())]


def plot_sweep(
    trials: list[dict[str, Any]], dimensions: list[Dimension], path: Path, best: dict[str, Any]
) -> None:
    """Validation error over the first two numeric dimensions (colour), or over the one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    numeric = [d for d in dimensions if d.dist in ("loguniform", "uniform")] or [
        d for d in dimensions if all(isinstance(a, (int, float)) for a in d.args)
    ]
    shown = [t for t in trials if t["valid_error"] is not None]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    if len(numeric) >= 2:
        x, y = numeric[0], numeric[1]
        for stopped, marker in ((False, "o"), (True, "X")):
            group = [t for t in shown if t["stopped_early"] == stopped]
            if not group:
                continue
            points = ax.scatter(
                [t["params"][x.name] for t in group], [t["params"][y.name] for t in group],
                c=[t["valid_error"] for t in group], marker=marker, s=70, cmap="viridis_r",
                vmin=min(t["valid_error"] for t in shown),
                vmax=max(t["valid_error"] for t in shown),
                label="stopped by ASHA" if stopped else "ran the whole budget",
            )  # fmt: skip
        fig.colorbar(points, ax=ax, label="validation error at last report (%)")
        ax.scatter([best["params"][x.name]], [best["params"][y.name]], s=260, facecolors="none",
                   edgecolors="red", label="best")  # fmt: skip
        ax.set_xlabel(x.name)
        ax.set_ylabel(y.name)
        for axis, dim in ((ax.xaxis, x), (ax.yaxis, y)):
            _scale(ax, axis, dim)
        if x.dist in ("loguniform", "uniform"):  # the whole searched range, not just the draws
            ax.set_xlim(*x.args)
        if y.dist in ("loguniform", "uniform"):
            ax.set_ylim(*y.args)
    elif numeric:
        x = numeric[0]
        ax.scatter([t["params"][x.name] for t in shown], [t["valid_error"] for t in shown])
        ax.set_xlabel(x.name)
        ax.set_ylabel("validation error at last report (%)")
        _scale(ax, ax.xaxis, x)
    else:
        labels = [json.dumps(t["params"]) for t in shown]
        ax.barh(range(len(shown)), [t["valid_error"] for t in shown])
        ax.set_yticks(range(len(shown)), labels, fontsize=7)
        ax.set_xlabel("validation error at last report (%)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best")
    ax.set_title(f"{len(shown)} trials; circles ran the whole budget", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _scale(ax: Any, axis: Any, dim: Dimension) -> None:
    """A log axis for a ``loguniform`` dimension, labelled at its decades only (the minor
    ticks' labels, 2x10^-4 3x10^-4 ..., run into each other), else a linear one."""
    from matplotlib.ticker import NullFormatter

    if dim.dist != "loguniform":
        return
    (ax.set_xscale if axis is ax.xaxis else ax.set_yscale)("log")
    axis.set_minor_formatter(NullFormatter())
