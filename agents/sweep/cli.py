"""``train/sweep.py`` / ``glimpse-sweep``: hyper-parameter sweeps on Ray Tune.

    python train/sweep.py --agent ram --preset ram-cluttered60-6g \\
        --space 'location_std=loguniform(0.05,0.3)' --space 'lr=loguniform(3e-4,3e-3)' \\
        --num-samples 12 --updates 3000
    python train/sweep.py --agent recurrent-ppo --env-id ClutteredMNIST-v0 --timesteps 300000 \\
        --space-file sweeps/recurrent_ppo.yaml
    python train/sweep.py ... --address auto --storage /shared/sweeps   # on a Ray cluster

Every trial is an ordinary training run (see :mod:`agents.sweep.trial`) that reports its
validation error at each evaluation; Optuna's TPE proposes the values (Ray's random/grid
variant generator when the space has a ``grid``), ASHA stops the trials that trail at a rung.
Test digits are never read, except by ``--retrain-best`` after the choice is made.

Writes ``<storage>/<name>/``: ``runs/<trial id>/`` (each trial's run directory: config,
checkpoints, TensorBoard events), ``ray/`` (Ray's own experiment state), ``trials.json`` (every
trial's values, reports and whether ASHA stopped it), ``best.json`` (the chosen values and their
validation error) and ``sweep.png`` (validation error over the swept values).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents.sweep import manifest
from agents.sweep.report import plot_sweep, summarise, write_trials_table
from agents.sweep.space import Dimension, build_space, to_tune
from agents.sweep.trial import AGENTS, ATTENTION_AGENTS, METRIC, PROGRESS, TrialSpec, run_trial
from agents.training.presets import preset_config
from agents.training.trainer import Trainer
from glimpse_env.atomic import write_json_atomic
from glimpse_env.checks import check_int
from glimpse_env.data.mnist import ENV_VAR as DATA_ENV_VAR
from glimpse_env.envs import task_name

SEARCHERS = ("optuna", "random")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="train/sweep.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    what = parser.add_argument_group("what to train")
    what.add_argument("--agent", choices=AGENTS, required=True)
    what.add_argument("--preset", help="the attention agent's preset (ram-cluttered60-6g, ...)")
    what.add_argument("--env-id", help="the SB3 baseline's task (default ClutteredMNIST-v0)")
    what.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE",
        help="a field every trial sets (repeatable), e.g. --set batch_size=64",
    )  # fmt: skip
    what.add_argument("--seed", type=int, default=0, help="every trial's seed")
    space = parser.add_argument_group("search space")
    space.add_argument(
        "--space", action="append", default=[], metavar="NAME=DIST(ARGS)",
        help="loguniform(a,b), uniform(a,b), choice(x,y,...) or grid(x,y,...) (repeatable)",
    )  # fmt: skip
    space.add_argument("--space-file", help="the space as a YAML or JSON mapping")
    budget = parser.add_argument_group("budget and scheduling")
    budget.add_argument("--updates", type=int, help="attention agents: updates per trial, at most")
    budget.add_argument("--timesteps", type=int, help="SB3 baselines: env steps per trial")
    budget.add_argument(
        "--eval-every", type=int,
        help="updates / env steps between validation reports (default: budget / 4)",
    )  # fmt: skip
    budget.add_argument("--eval-canvases", type=int, default=1000, help="validation canvases")
    budget.add_argument("--num-samples", type=int, default=10, help="trials (per grid point)")
    budget.add_argument("--searcher", choices=SEARCHERS, default="optuna")
    budget.add_argument(
        "--grace", type=int, help="ASHA: progress before a trial can be stopped (default eval)"
    )
    budget.add_argument("--reduction-factor", type=float, default=2.0, help="ASHA's eta")
    resources = parser.add_argument_group("resources")
    resources.add_argument("--max-concurrent", type=int, help="trials at once (default: fit)")
    resources.add_argument("--cpus-per-trial", type=float, default=1.0)
    resources.add_argument("--gpus-per-trial", type=float, default=0.0, help="may be fractional")
    resources.add_argument(
        "--address", help="connect to a running Ray cluster ('auto'); default: start a local Ray"
    )
    resources.add_argument(
        "--num-cpus", type=int, help="CPUs of the local Ray (default: this machine's cores)"
    )
    out = parser.add_argument_group("output")
    out.add_argument("--storage", default="runs/sweeps", help="shared path on a cluster")
    out.add_argument("--name", help="the sweep's directory name (default: agent-preset-time)")
    out.add_argument(
        "--resume", action="store_true",
        help="continue the sweep of --name where it stopped (only if its Ray state is what this "
        "machine wrote: agents/sweep/manifest.py)",
    )  # fmt: skip
    out.add_argument(
        "--retrain-best", action="store_true",
        help="then train the best values to full length (--retrain-updates / --retrain-"
        "timesteps, default the preset's) and evaluate on valid and test",
    )  # fmt: skip
    out.add_argument("--retrain-updates", type=int)
    out.add_argument("--retrain-timesteps", type=int)
    out.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2), help="Ray's output")
    return parser


def _fixed(items: list[str]) -> dict[str, Any]:
    fixed: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--set takes NAME=VALUE, got {item!r}")
        try:
            fixed[name] = json.loads(value)
        except json.JSONDecodeError:
            fixed[name] = value
    return fixed


def _spec(args: argparse.Namespace, root: Path) -> TrialSpec:
    attention = args.agent in ATTENTION_AGENTS
    budget = args.updates if attention else args.timesteps
    flag = "--updates" if attention else "--timesteps"
    if budget is None:
        raise ValueError(f"agent {args.agent!r} needs {flag} (the most a trial may run)")
    other = args.timesteps if attention else args.updates
    if other is not None:
        raise ValueError(f"agent {args.agent!r} takes {flag}, not the other budget flag")
    if args.env_id is not None and attention:
        raise ValueError("--env-id is for the SB3 baselines; attention agents take --preset")
    eval_every = args.eval_every or max(1, budget // 4)
    threads = max(1, int(args.cpus_per_trial))
    return TrialSpec(
        agent=args.agent, preset=args.preset, env_id=args.env_id, budget=budget,
        eval_every=eval_every, eval_canvases=args.eval_canvases, runs_dir=str(root / "runs"),
        fixed=_fixed(args.set), seed=args.seed, num_threads=threads,
        device="cuda" if args.gpus_per_trial > 0 else "cpu",
    )  # fmt: skip


def _check_resources(args: argparse.Namespace) -> None:
    """What Ray would only fail on (or hang on) once started."""
    if args.env_id is not None:
        task_name(args.env_id)  # raises on an unknown id
    if not args.reduction_factor > 1:
        raise ValueError(
            f"--reduction-factor must be > 1 (ASHA's eta), got {args.reduction_factor}"
        )
    if not args.cpus_per_trial > 0:
        raise ValueError(f"--cpus-per-trial must be > 0, got {args.cpus_per_trial}")
    if args.gpus_per_trial < 0:
        raise ValueError(f"--gpus-per-trial must be >= 0, got {args.gpus_per_trial}")
    if args.gpus_per_trial > 0 and not args.address:
        import torch

        if not torch.cuda.is_available():
            raise ValueError(
                "--gpus-per-trial asks for a GPU and this machine has none usable by torch "
                "(the trials would wait forever); drop it or use --address with a GPU cluster"
            )
    for flag in ("num_samples", "eval_canvases", "max_concurrent", "num_cpus"):
        value = getattr(args, flag)
        if value is not None:
            check_int(f"--{flag.replace('_', '-')}", value)
    storage = Path(args.storage)
    if storage.exists() and not storage.is_dir():
        raise ValueError(f"--storage {storage} is a file, not a directory")


_SWEEP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def check_sweep_name(name: str) -> None:
    """A sweep's ``--name`` is one directory inside ``--storage``: letters, digits, ``.``,
    ``_`` and ``-``, no path (``../x`` or ``/x`` would write outside the storage)."""
    if not _SWEEP_NAME.fullmatch(name) or ".." in name:
        raise ValueError(
            f"--name {name!r} must be one directory name (letters, digits, '.', '_', '-'), not "
            "a path: the sweep is written to --storage/NAME"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; a bad argument is one line on stderr and exit status 2."""
    if argv is None:
        argv = sys.argv[1:]
    if list(argv[:1]) == ["--table"]:  # redraw trials.md and sweep.png of finished sweeps
        for directory in map(Path, argv[1:]):
            trials = json.loads((directory / "trials.json").read_text())
            write_trials_table(trials, directory / "trials.md")
            space = json.loads((directory / "sweep.json").read_text())["space"]
            best = json.loads((directory / "best.json").read_text())
            plot_sweep(trials, build_space(space), directory / "sweep.png", best)
        return 0
    args = _parser().parse_args(argv)
    try:
        if args.name is not None:
            check_sweep_name(args.name)
        name = args.name or "-".join(
            [args.agent, args.preset or args.env_id or "ClutteredMNIST-v0",
             time.strftime("%Y%m%d-%H%M%S")]
        )  # fmt: skip
        root = Path(args.storage).resolve() / name
        spec = _spec(args, root)
        dimensions = build_space(args.space, args.space_file)
        spec.check([d.name for d in dimensions])
        spec.check_values({d.name: list(d.args) for d in dimensions})
        _check_resources(args)
        if args.resume and not (root / "ray").is_dir():
            raise ValueError(f"--resume: no sweep at {root} (give the --name it was run with)")
        if args.resume:
            manifest.verify(root / "ray")  # before Ray unpickles anything there
        elif root.exists() and any(root.iterdir()):
            raise ValueError(
                f"a sweep named {name!r} exists at {root}: pass --resume to continue it, or "
                "another --name"
            )
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    results = run_sweep(args, spec, dimensions, root)
    best = summarise(results, dimensions, spec, root)
    if best is None:
        failed = [r for r in results if r.get("error")]
        why = ""
        if failed:
            first = failed[0]
            line = next((ln for ln in reversed(first["error"].splitlines()) if ln.strip()), "")
            why = f"; {len(failed)} of {len(results)} failed, the first with: {line.strip()}"
            if first.get("log"):
                why += f" (its log: {first['log']})"
        print(f"error: no trial reported a validation error{why}", file=sys.stderr)
        return 1
    print(f"best: {json.dumps(best['params'])} valid error {best['valid_error']:.2f}% "
          f"({best['trial_id']}, {best['progress']} {best['progress_unit']})")  # fmt: skip
    print(f"wrote {root / 'trials.json'}, {root / 'best.json'} and {root / 'sweep.png'}")
    if args.retrain_best:
        retrain(spec, best, root, args)
    return 0


def run_sweep(
    args: argparse.Namespace, spec: TrialSpec, dimensions: list[Dimension], root: Path
) -> list[dict[str, Any]]:
    """Start (or join) Ray, run the trials, return every trial's record."""
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    # Trials find the data where the driver does, on every node (docs/sweeps.md).
    runtime_env = {
        "env_vars": {key: os.environ[key] for key in (DATA_ENV_VAR,) if key in os.environ}
    }
    if args.address:
        ray.init(address=args.address, log_to_driver=args.verbose > 1, runtime_env=runtime_env)
    else:
        # Ray raises its workers' niceness 15 above the driver's (RayConfig worker_niceness), so
        # beside any other job on the same cores a trial gets a few percent of a core. A local
        # sweep's trials run at the driver's priority instead (start it with `nice` to lower it).
        os.environ.setdefault("RAY_worker_niceness", "0")
        ray.init(
            num_cpus=args.num_cpus,
            include_dashboard=False,
            log_to_driver=args.verbose > 1,
            runtime_env=runtime_env,
        )
    cpus = ray.cluster_resources().get("CPU", 1)
    concurrent = args.max_concurrent or max(1, int(cpus // max(args.cpus_per_trial, 1e-9)))
    grid = any(d.dist == "grid" for d in dimensions)
    searcher = None
    if args.searcher == "optuna" and not grid:
        from ray.tune.search.optuna import OptunaSearch

        searcher = OptunaSearch(seed=args.seed)
    elif args.searcher == "optuna":
        print("the space has a grid: Ray's grid/random generator replaces Optuna's TPE")
    scheduler = ASHAScheduler(
        time_attr=PROGRESS, max_t=spec.budget, grace_period=args.grace or spec.eval_every,
        reduction_factor=args.reduction_factor,
    )  # fmt: skip
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, spec=spec),
        {"cpu": args.cpus_per_trial, "gpu": args.gpus_per_trial},
    )
    storage = str(root)
    if args.resume:
        tuner = tune.Tuner.restore(
            str(root / "ray"), trainable, resume_unfinished=True, restart_errored=True
        )
    else:
        root.mkdir(parents=True, exist_ok=True)
        write_json_atomic(
            root / "sweep.json",
            {"command": " ".join(sys.argv), "spec": spec.__dict__,
             "space": [str(d) for d in dimensions], "searcher": "optuna" if searcher else "basic",
             "max_concurrent": concurrent, "cpus_per_trial": args.cpus_per_trial,
             "gpus_per_trial": args.gpus_per_trial},
        )  # fmt: skip
        tuner = tune.Tuner(
            trainable,
            param_space=to_tune(dimensions),
            tune_config=tune.TuneConfig(
                metric=METRIC, mode="min", search_alg=searcher, scheduler=scheduler,
                num_samples=args.num_samples, max_concurrent_trials=concurrent,
            ),
            run_config=tune.RunConfig(
                name="ray", storage_path=storage, verbose=args.verbose,
                failure_config=tune.FailureConfig(max_failures=2),
            ),
        )  # fmt: skip
    try:
        grid_results = tuner.fit()
    finally:  # also after Ctrl-C: what this sweep wrote is what a --resume may read
        if (root / "ray").is_dir():
            manifest.record(root / "ray")
    records = []
    for result in grid_results:
        history = result.metrics_dataframe
        reports = []
        if history is not None and METRIC in history:
            reports = [
                {PROGRESS: int(p), METRIC: float(e)}
                for p, e in zip(history[PROGRESS], history[METRIC], strict=True)
            ]
        params = {d.name: result.config.get(d.name) for d in dimensions}
        run_dir = (result.metrics or {}).get("run_dir")
        log = Path(result.path) / "error.txt" if result.path else None
        records.append(
            {
                "trial_id": Path(run_dir).name if run_dir else None,
                "params": params,
                "reports": reports,
                "error": str(result.error) if result.error else None,
                "log": str(log) if result.error and log is not None and log.is_file() else None,
                "node": (result.metrics or {}).get("node"),
            }
        )
    ray.shutdown()
    return records


def retrain(spec: TrialSpec, best: dict[str, Any], root: Path, args: argparse.Namespace) -> None:
    """Train the best values to full length in ``<root>/best/`` and evaluate on valid and
    test (the one place a sweep reads test digits, after the choice)."""
    run_dir = root / "best"
    if spec.agent in ATTENTION_AGENTS:
        assert spec.preset is not None
        full = preset_config(spec.preset)
        config = spec.train_config(
            best["params"], updates=args.retrain_updates or full.updates,
            eval_every=full.eval_every, checkpoint_every=full.checkpoint_every,
            eval_canvases=full.eval_canvases,
        )  # fmt: skip
        result = Trainer(config, run_dir, progress=True).train()
        print(f"retrained {json.dumps(best['params'])}: {result.greedy}; {result.mc} ({run_dir})")
    else:
        from agents.sb3.baselines import train_baseline

        config = spec.baseline_config(
            best["params"], timesteps=args.retrain_timesteps or spec.budget
        )
        outcome = train_baseline(config, run_dir, progress=True)
        assert outcome is not None
        valid, test = outcome.score("valid"), outcome.greedy
        print(f"retrained {json.dumps(best['params'])}: {valid}; {test} ({run_dir})")


if __name__ == "__main__":
    sys.exit(main())
