"""Grid search of an SB3 baseline's hyper-parameters on a short budget.

    python benchmarks/tune_baseline.py --algo recurrent-ppo --env ClutteredMNIST-v0 \\
        --timesteps 300000 --grid learning_rate=1e-4,3e-4,1e-3 ent_coef=0,0.01 \\
        --json results/tuning_recurrent-ppo_ClutteredMNIST-v0.json

Every combination of the ``--grid`` values is trained from the same seed for ``--timesteps``
environment steps, starting from ``agents.sb3.baselines.HYPER[algo]`` with the combination applied,
and scored on the first ``--eval-canvases`` fixed **validation** canvases (MNIST training digits
50,000-59,999, never used for training; the same canvases for every combination). Results are
printed best first and written to ``--json`` (appended to what is there, so a search can be
extended). The chosen values are then copied by hand into
``agents.sb3.baselines.HYPER`` with a pointer to the JSON.

Test digits are never read here. Records written before the validation split existed carry
``test_error`` instead of ``valid_error``: they were selected on test canvases of another stream
(``eval_seed`` 7) and are kept for the record, not ranked.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from agents.sb3.baselines import ALGOS, HYPER, BaselineConfig, train_baseline
from glimpse_env.atomic import write_json_atomic


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """``["lr=1e-4,3e-4", "n_steps=12"]`` -> ``{"lr": [1e-4, 3e-4], "n_steps": [12]}``
    (values are read as JSON numbers where possible, else kept as strings)."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep or not name or not values:
            raise ValueError(f"grid entries look like name=v1,v2; got {item!r}")
        parsed = []
        for value in values.split(","):
            try:
                parsed.append(json.loads(value))
            except json.JSONDecodeError:
                parsed.append(value)
        grid[name] = parsed
    return grid


def combinations(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, as override dicts."""
    names = list(grid)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*grid.values())]


def apply_overrides(hyper: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``hyper`` with ``overrides`` applied; ``"policy.NAME"`` keys go into ``policy_kwargs``
    (``policy.lstm_hidden_size=128``, ``policy.features_extractor_class=flatten``)."""
    merged = {**hyper, "policy_kwargs": dict(hyper.get("policy_kwargs", {}))}
    for name, value in overrides.items():
        if name.startswith("policy."):
            merged["policy_kwargs"][name.removeprefix("policy.")] = value
        else:
            merged[name] = value
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algo", choices=ALGOS, required=True)
    parser.add_argument("--env", default="ClutteredMNIST-v0")
    parser.add_argument("--timesteps", type=int, default=300_000)
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument(
        "--grid", nargs="+", required=True,
        help="name=v1,v2 ... (SB3 kwargs; policy.NAME=... for policy_kwargs)",
    )  # fmt: skip
    parser.add_argument("--eval-canvases", type=int, default=2000)
    parser.add_argument("--eval-seed", type=int, default=BaselineConfig.eval_seed)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, required=True, help="results file (appended)")
    args = parser.parse_args()

    grid = parse_grid(args.grid)
    unknown = sorted(n for n in grid if not n.startswith("policy.") and n not in HYPER[args.algo])
    if unknown:
        raise SystemExit(
            f"error: {unknown} not in HYPER[{args.algo!r}]: {sorted(HYPER[args.algo])}"
        )
    records: list[dict[str, Any]] = json.loads(args.json.read_text()) if args.json.exists() else []
    for overrides in combinations(grid):
        config = BaselineConfig(
            algo=args.algo, env_id=args.env, num_envs=args.num_envs, timesteps=args.timesteps,
            seed=args.seed, device=args.device, eval_canvases=args.eval_canvases,
            eval_seed=args.eval_seed, eval_every=10**12, checkpoint_every=10**12,
            hyper=apply_overrides(HYPER[args.algo], overrides),
        )  # fmt: skip
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as run_dir:
            result = train_baseline(config, Path(run_dir), progress=False).valid
        record = {
            "algo": args.algo,
            "env_id": args.env,
            "overrides": overrides,
            "hyper": config.hyper,  # everything the run used, overrides applied
            "timesteps": args.timesteps,
            "seed": args.seed,
            "eval_seed": args.eval_seed,
            "valid_error": result.error_pct,
            "valid_canvases": result.total,
            "wall_clock_s": round(time.perf_counter() - started, 1),
        }
        records.append(record)
        print(f"{json.dumps(overrides)}: {result.error_pct:.2f}% ({record['wall_clock_s']} s)")
        write_json_atomic(args.json, records)  # after every combination: nothing is lost
    print("best first:")
    mine = [r for r in records if r["algo"] == args.algo and r["env_id"] == args.env]
    scored = [r for r in mine if "valid_error" in r]  # older records selected on test canvases
    for r in sorted(scored, key=lambda r: r["valid_error"]):
        print(f"  {r['valid_error']:6.2f}%  {json.dumps(r['overrides'])}  ({r['timesteps']} steps)")


if __name__ == "__main__":
    main()
