"""Training throughput of the RAM agent, and where the time of one update goes.

    python benchmarks/train_throughput.py                       # ram-cluttered60-6g, batch 128
    python benchmarks/train_throughput.py --preset ram-cluttered60-8g --device cuda
    python benchmarks/train_throughput.py --json results/train_throughput_cpu.json

Three measurements in one process, on the same configuration:

1. full training updates (``Trainer.train_step``: env reset + rollout + hybrid loss + Adam),
   with the time spent inside the environment (``reset_to`` and ``step``: canvas generation,
   integral images, retina, action checks) accumulated separately;
2. the environment alone: reset + ``num_glimpses`` steps at random locations;
3. the model alone: the same forward/backward/Adam on a batch of glimpses recorded once (no
   environment at all).

EDRAM does not step the environment (it samples the canvases itself), so for its presets only
row 1 and the time of the env's reset are measured.

It prints samples (episodes) per second for each and the share of an update spent in the env.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch

from agents.training.config import preset_config
from agents.training.hybrid_loss import hybrid_loss
from agents.training.rollout import Rollout
from agents.training.trainer import Trainer
from glimpse_env.atomic import write_json_atomic


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class EnvTimer:
    """Wraps a vector env's ``reset_to``/``step`` and sums the seconds spent in them."""

    def __init__(self, env, device: torch.device) -> None:
        self.seconds = 0.0
        self.device = device
        for name in ("reset_to", "step"):
            setattr(env, name, self._timed(getattr(env, name)))

    def _timed(self, method):
        def wrapper(*args, **kwargs):
            _sync(self.device)
            start = time.perf_counter()
            out = method(*args, **kwargs)
            _sync(self.device)
            self.seconds += time.perf_counter() - start
            return out

        return wrapper


def time_updates(trainer: Trainer, updates: int) -> tuple[float, float]:
    """(seconds per update, env seconds per update) of ``updates`` real training updates."""
    timer = EnvTimer(trainer.env, trainer.device)
    _sync(trainer.device)
    start = time.perf_counter()
    for _ in range(updates):
        trainer.train_step()
    _sync(trainer.device)
    return (time.perf_counter() - start) / updates, timer.seconds / updates


def time_env_alone(trainer: Trainer, episodes: int) -> float:
    """Seconds per batch of episodes: reset plus every step at random locations."""
    env, n = trainer.env, trainer.config.batch_size
    steps = env.episodes.config.num_glimpses
    generator = torch.Generator(device=trainer.device).manual_seed(0)
    labels = torch.zeros(n, dtype=torch.int64, device=trainer.device)
    _sync(trainer.device)
    start = time.perf_counter()
    for e in range(episodes):
        env.reset_to(trainer.train_keys, np.full(n, 10_000 + e))
        for _ in range(steps):
            where = torch.rand(n, 2, generator=generator, device=trainer.device) * 2 - 1
            env.step({"location": where, "label": labels})
    _sync(trainer.device)
    return (time.perf_counter() - start) / episodes


def time_model_alone(trainer: Trainer, updates: int) -> float:
    """Seconds per update of the model's forward/backward/Adam on recorded glimpses."""
    env, model, config = trainer.env, trainer.model, trainer.config
    n, steps = config.batch_size, env.episodes.config.num_glimpses
    obs, info = env.reset_to(trainer.train_keys, np.full(n, 20_000))
    obs0 = obs
    glimpses, locations = [obs["glimpse"]], [obs["location"]]
    for _ in range(steps - 1):
        where = torch.zeros(n, 2, device=trainer.device)
        obs, *_ = env.step({"location": where, "label": info["label"]})
        glimpses.append(obs["glimpse"])
        locations.append(obs["location"])
    labels = info["label"]
    generator = torch.Generator(device=trainer.device).manual_seed(0)

    def one_update() -> None:
        state = model.initial_state(obs0)
        log_probs, baselines, means = [], [], []
        for t in range(steps):
            state = model.observe(glimpses[t], locations[t], state)
            if t < steps - 1:
                mean = model.location_mean(state)
                means.append(mean)
                noise = torch.randn(mean.shape, generator=generator, device=trainer.device)
                chosen = (mean + config.location_std * noise).detach()
                normal = torch.distributions.Normal(mean, config.location_std)
                log_probs.append(normal.log_prob(chosen).sum(-1))
                baselines.append(model.baseline(state))
        logits = model.classify(state)
        rewards = (logits.argmax(-1) == labels).float()
        episodes = Rollout(
            logits, torch.stack(log_probs, 1), torch.stack(baselines, 1), torch.stack(means, 1),
            torch.stack(locations, 1), rewards, labels, info["bbox"],
        )  # fmt: skip
        loss = hybrid_loss(episodes)
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.total.backward()
        trainer.optimizer.step()
        float(loss.total.detach())  # the trainer reads its scalars every update too

    for _ in range(5):
        one_update()
    _sync(trainer.device)
    start = time.perf_counter()
    for _ in range(updates):
        one_update()
    _sync(trainer.device)
    return (time.perf_counter() - start) / updates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="ram-cluttered60-6g")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--updates", type=int, default=100, help="timed updates per measurement")
    parser.add_argument("--num-threads", type=int, default=0, help="torch CPU threads (0: all)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()

    config = preset_config(
        args.preset, batch_size=args.batch_size, device=args.device, num_threads=args.num_threads
    )
    trainer = Trainer(config, Path("runs") / "benchmark-unused", progress=False)
    for _ in range(10):  # warm-up
        trainer.train_step()
    per_update, env_per_update = time_updates(trainer, args.updates)
    n = config.batch_size
    rows = [("full training update", per_update), ("  of which inside the env", env_per_update)]
    env_alone = model_alone = None
    if hasattr(trainer.model, "observe"):  # agents that step the env (RAM, DRAM)
        env_alone = time_env_alone(trainer, args.updates)
        model_alone = time_model_alone(trainer, args.updates)
        rows += [
            ("env alone (reset + steps)", env_alone),
            ("model alone (fwd/bwd/Adam)", model_alone),
        ]
    print(f"{args.preset}, batch {n}, device {args.device}, torch threads "
          f"{torch.get_num_threads()}, {args.updates} updates per row")  # fmt: skip
    print(f"{'measurement':32s} {'ms/update':>10s} {'samples/s':>10s}")
    for name, seconds in rows:
        print(f"{name:32s} {seconds * 1e3:10.2f} {n / seconds:10.0f}")
    share = env_per_update / per_update
    print(f"env share of a training update: {share:.1%} (bar: below 33%)")
    if model_alone is not None:
        print(f"full update / model alone: {per_update / model_alone:.2f}x")

    if args.json:
        record = {
            "preset": args.preset,
            "batch_size": n,
            "device": args.device,
            "torch_threads": torch.get_num_threads(),
            "machine": platform.processor() or platform.machine(),
            "updates_timed": args.updates,
            "train_samples_per_s": n / per_update,
            "ms_per_update": per_update * 1e3,
            "env_ms_per_update": env_per_update * 1e3,
            "env_share": share,
            "env_alone_samples_per_s": n / env_alone if env_alone else None,
            "model_alone_samples_per_s": n / model_alone if model_alone else None,
            "command": "python benchmarks/train_throughput.py "
            + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v),
        }
        write_json_atomic(args.json, record)


if __name__ == "__main__":
    main()
