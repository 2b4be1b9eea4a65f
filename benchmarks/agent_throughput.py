"""Training throughput of RAM, RecurrentPPO and PPO on one task, in one process.

    python benchmarks/agent_throughput.py                                # ClutteredMNIST-v0
    python benchmarks/agent_throughput.py --env TranslatedMNIST-v0 --seconds 30
    python benchmarks/agent_throughput.py --json results/agent_throughput_cpu.json

The learning curves of ``results/runs_comparison.md`` are against wall-clock, and those runs shared
the machine with each other; this measures what each agent's training costs when it runs alone,
one after the other in the same process with the same torch threads, so the ratios compare the
agents rather than the load. Each agent trains for about ``--seconds`` after a warm-up:

- RAM: ``Trainer.train_step`` of its preset for the task (batch 128 episodes); env steps per
  update = batch x ``num_glimpses``.
- RecurrentPPO / PPO: ``model.learn`` with ``agents.sb3.config.HYPER`` (rollouts, PPO epochs and
  everything else ``learn`` does), on the same native vector env as ``train/ppo_baseline.py``.

Periodic test evaluations are not included (all agents evaluate on the same canvases, at a cost
that depends on how often one asks). Prints env steps/s and the ratio to RAM.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from agents.sb3.algorithms import make_model, make_vec_env
from agents.sb3.config import ALGOS, BaselineConfig
from agents.training.presets import preset_config
from agents.training.trainer import Trainer
from glimpse_env.atomic import write_json_atomic

#: The RAM preset trained on each task in results/runs_comparison.md.
RAM_PRESETS = {
    "ClutteredMNIST-v0": "ram-cluttered60-6g",
    "TranslatedMNIST-v0": "ram-translated60-6g",
}


def ram_steps_per_s(env_id: str, seconds: float) -> float:
    """Env steps/s of RAM training updates on ``env_id``'s preset."""
    config = preset_config(RAM_PRESETS[env_id])
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(config, Path(run_dir), progress=False)
        for _ in range(5):  # warm-up
            trainer.train_step()
        updates, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            trainer.train_step()
            updates += 1
        elapsed = time.perf_counter() - start
    steps_per_update = config.batch_size * trainer.env.episodes.config.num_glimpses
    return updates * steps_per_update / elapsed


def sb3_steps_per_s(algo: str, env_id: str, seconds: float) -> float:
    """Env steps/s of ``model.learn`` for ``algo`` with its preset on ``env_id``."""
    config = BaselineConfig(algo=algo, env_id=env_id)
    venv, _ = make_vec_env(config, config.num_envs, "train")
    model = make_model(config, venv, tensorboard_log=None)
    rollout = model.n_steps * config.num_envs
    model.learn(2 * rollout)  # warm-up
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        model.learn(4 * rollout, reset_num_timesteps=False)
        steps += 4 * rollout
    elapsed = time.perf_counter() - start
    venv.close()
    return steps / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="ClutteredMNIST-v0", choices=sorted(RAM_PRESETS))
    parser.add_argument("--seconds", type=float, default=60.0, help="per agent, after warm-up")
    parser.add_argument("--num-threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(args.num_threads)

    rates = {"RAM": ram_steps_per_s(args.env, args.seconds)}
    for algo in ALGOS:
        rates[algo] = sb3_steps_per_s(algo, args.env, args.seconds)
    print(f"{args.env}, torch threads {torch.get_num_threads()}, ~{args.seconds:.0f} s per agent")
    print(f"{'agent':16s} {'env steps/s':>12s} {'x RAM':>8s}")
    for name, rate in rates.items():
        print(f"{name:16s} {rate:12,.0f} {rate / rates['RAM']:8.2f}")
    if args.json:
        record = {
            "env_id": args.env,
            "torch_threads": torch.get_num_threads(),
            "machine": platform.processor() or platform.machine(),
            "seconds_per_agent": args.seconds,
            "env_steps_per_s": {name: round(rate, 1) for name, rate in rates.items()},
            "ratio_to_ram": {name: round(rate / rates["RAM"], 3) for name, rate in rates.items()},
            "command": "python benchmarks/agent_throughput.py "
            f"--env {args.env} --seconds {args.seconds:g} --num-threads {args.num_threads}",
        }
        records = json.loads(args.json.read_text()) if args.json.exists() else []
        records = [r for r in records if r["env_id"] != args.env] + [record]
        write_json_atomic(args.json, records)


if __name__ == "__main__":
    main()
