"""Compare finished attention-agent and SB3 runs: ``results/runs_comparison.{md,json,png}``.

    python benchmarks/compare_agents.py runs/ram-cluttered60-6g-<time> \\
        runs/recurrent-ppo-ClutteredMNIST-v0-<time> runs/ppo-ClutteredMNIST-v0-<time> ...

The hand-written ``results/runs_comparison_notes.md``, if there, is appended to the table. (The
comparison of every agent from the cards, ``results/comparison.*``, is
``benchmarks/comparison.py``; this script compares runs, with their learning curves.)

Each argument is a finished run directory of ``train/ram_agent.py`` (or ``dram_agent.py``,
``edram_agent.py``) or of ``train/ppo_baseline.py``; the kind and the task are read from its
``config.json``. All runs are scored on the same fixed test canvases (``agents.evaluation``).

Definitions (the same for every agent):

- *test error*: the deterministic policy's error on the 10,000 test canvases (the attention
  agents' greedy evaluation; SB3's ``deterministic=True``). RAM's Monte-Carlo error (10 sampled
  paths averaged) is given beside it, as the RAM paper reports that one.
- *env steps*: calls of ``env.step`` summed over all parallel environments, ``num_glimpses`` per
  episode for every agent.
- *wall-clock*: seconds of training including periodic and final evaluation, as each run's
  ``final.json`` records; *env steps/s* is env steps over wall-clock.
- The curve: test accuracy of the periodic evaluations (a subset of the test canvases) against
  wall-clock seconds, one line per run, one panel per task.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from figures import pyplot, save_png

from agents.runs.final import read_final
from agents.runs.log import valid_curve
from agents.sb3.config import preset_hyper
from glimpse_env.atomic import atomic_path, write_json_atomic
from glimpse_env.envs import ENV_IDS

AGENT_NAMES = {"ram": "RAM", "dram": "DRAM", "edram": "EDRAM"}
ALGO_NAMES = {"recurrent-ppo": "RecurrentPPO", "ppo": "PPO (frame stack)"}


@dataclass
class Comparison:
    """One run's row of the table and its curve.

    Attributes:
        agent: display name (``RAM``, ``RecurrentPPO``, ...).
        env_id: the task.
        test_error: deterministic test error in percent; ``test_errors`` of ``test_canvases``.
        test_error_mc: RAM/DRAM's Monte-Carlo test error in percent (None for the others).
        env_steps: environment steps of training, all environments together.
        wall_clock_s: seconds of training including evaluation.
        command: the command line(s) that made the run.
        curve: ``[(wall_clock_s, test accuracy in percent), ...]`` of the periodic evaluations.
    """

    agent: str
    env_id: str
    test_error: float
    test_errors: int
    test_canvases: int
    test_error_mc: float | None
    env_steps: int
    wall_clock_s: float
    command: str
    run_dir: str
    curve: list[tuple[float, float]] = field(default_factory=list)

    @property
    def env_steps_per_s(self) -> float:
        return self.env_steps / max(self.wall_clock_s, 1e-9)


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: is {path.parent} a finished run?")
    return json.loads(path.read_text())


def _command(run_dir: Path) -> str:
    path = run_dir / "command.txt"
    return " && ".join(path.read_text().strip().splitlines()) if path.is_file() else ""


def _preset_difference(config: dict) -> str:
    """``" [gae_lambda=0.95, ent_coef=0.01]"``: the run's SB3 settings that differ from today's
    preset for its task, ``agents.sb3.config.preset_hyper`` (empty when it ran the current
    preset), so that runs made before or during tuning are told apart in the table."""
    preset = preset_hyper(config["algo"], config.get("env_id", "ClutteredMNIST-v0"))
    used = config.get("hyper") or {}
    diff = [
        f"{k}={v}"
        for k, v in used.items()
        if k in preset and preset[k] != v and k != "policy_kwargs"
    ]
    policy, preset_policy = used.get("policy_kwargs", {}), preset.get("policy_kwargs", {})
    diff += [
        f"policy.{k}={v}"
        for k, v in policy.items()
        if k not in preset_policy or preset_policy[k] != v
    ]
    return f" [{', '.join(diff)}]" if diff else ""


def collect(run_dir: Path) -> Comparison:
    """Read one finished run directory (attention agent or SB3 baseline)."""
    config = _read_json(run_dir / "config.json")
    final = read_final(run_dir)
    if final.family == "attention":
        agent = AGENT_NAMES[final.agent]
    elif final.family == "sb3":
        agent = ALGO_NAMES[final.agent] + _preset_difference(config)
    else:
        raise ValueError(f"{run_dir} is a {final.family} run, which never steps an env")
    return Comparison(
        agent=agent,
        env_id=final.env_id,
        test_error=final.test_error_greedy,
        test_errors=final.test_errors_greedy,
        test_canvases=final.canvases,
        test_error_mc=final.test_error_mc if final.agent in ("ram", "dram") else None,
        env_steps=int(final.env_steps or 0),
        wall_clock_s=final.wall_clock_s,
        command=_command(run_dir),
        run_dir=str(run_dir),
        curve=[(seconds, 100.0 - error) for _, seconds, error in valid_curve(run_dir)],
    )


def write_markdown(rows: list[Comparison], path: Path, png_name: str) -> None:
    """One table per task, then the curve picture."""
    lines = [
        "# Attention agents vs SB3 baselines",
        "",
        "Generated by `python benchmarks/compare_agents.py RUN_DIR ...` from the runs' own files;",
        "definitions in that script's docstring. Test error: deterministic policy on the same",
        "10,000 test canvases for every agent. Every figure here was measured on the machine",
        "named in the run's command; none is copied from a paper.",
        "",
    ]
    for env_id in sorted({r.env_id for r in rows}):
        lines += [
            f"## {env_id}",
            "",
            "| agent | test error | RAM MC | env steps | wall-clock | env steps/s | command |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in sorted((r for r in rows if r.env_id == env_id), key=lambda r: r.test_error):
            mc = f"{r.test_error_mc:.2f}%" if r.test_error_mc is not None else ""
            lines.append(
                f"| {r.agent} | **{r.test_error:.2f}%** ({r.test_errors}/{r.test_canvases}) "
                f"| {mc} | {r.env_steps:,} | {r.wall_clock_s / 60:.0f} min "
                f"| {r.env_steps_per_s:,.0f} | `{r.command}` |"
            )
        lines.append("")
    lines += [f"![test accuracy against wall-clock]({png_name})", ""]
    notes = path.with_name(f"{path.stem}_notes.md")
    if notes.exists():  # hand-written: how the runs were made, tuning, what the figures mean
        lines += [notes.read_text().rstrip(), ""]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines))


def plot_curves(rows: list[Comparison], path: Path) -> None:
    """Test accuracy (%) against wall-clock minutes, one panel per task, one line per run."""
    plt = pyplot()

    env_ids = sorted({r.env_id for r in rows})
    fig, axes = plt.subplots(1, len(env_ids), figsize=(6 * len(env_ids), 5.5), squeeze=False)
    for ax, env_id in zip(axes[0], env_ids, strict=True):
        for r in rows:
            if r.env_id != env_id:
                continue
            points = [*r.curve, (r.wall_clock_s, 100.0 - r.test_error)]
            ax.plot([t / 60 for t, _ in points], [a for _, a in points], "o-", ms=3,
                    label=f"{r.agent} ({100 - r.test_error:.1f}%)")  # fmt: skip
        ax.set_title(env_id)
        ax.set_xlabel("wall-clock (min)")
        ax.set_ylabel("accuracy (%): valid during training, test at the end")
        ax.set_ylim(0, 100)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15))  # below: no overlap
    save_png(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished run directories")
    parser.add_argument("--results", type=Path, default=Path("results"))
    args = parser.parse_args()
    rows = [collect(run_dir) for run_dir in args.runs]
    unknown = sorted({r.env_id for r in rows} - set(ENV_IDS))
    if unknown:
        raise ValueError(f"runs on unregistered tasks: {unknown}")
    args.results.mkdir(parents=True, exist_ok=True)
    png = args.results / "runs_comparison.png"
    plot_curves(rows, png)
    write_markdown(rows, args.results / "runs_comparison.md", png.name)
    payload = [{**asdict(r), "env_steps_per_s": round(r.env_steps_per_s, 1)} for r in rows]
    write_json_atomic(args.results / "runs_comparison.json", payload)
    for r in rows:
        print(f"{r.env_id:22s} {r.agent:18s} {r.test_error:6.2f}% {r.env_steps:>12,} steps")


if __name__ == "__main__":
    main()
