"""Training throughput of the attention agents, and how far it is from this machine's limit.

    python benchmarks/train_throughput.py                      # RAM, DRAM, EDRAM-small; batch 128
    python benchmarks/train_throughput.py --presets ram-cluttered60-6g --num-threads 1
    python benchmarks/train_throughput.py --device cuda --batch-size 1024
    python benchmarks/train_throughput.py --json results/train_throughput_cpu.json

Everything is measured in this one process (the parallel-runs figure in child processes of it), so
ratios compare like with like:

1. **the machine's limit**: float32 matrix-multiply GFLOP/s at this run's thread count (best of
   a few large square products, ``--peak-size``), and at one thread;
2. **the update's FLOPs**, counted by :class:`torch.utils.flop_counter.FlopCounterMode` over one
   real training update (matrix products and convolutions, forward and backward; elementwise ops
   are not counted), so ``FLOPs / peak`` is the compute floor of one update;
3. **the full training update** (``Trainer.train_step``: env reset + rollout + loss + Adam), its
   GFLOP/s and their fraction of the peak, the time spent inside the environment, and for the
   agents that step the env (RAM, DRAM) the environment alone and the model alone; on the CPU,
   the share of the update's time inside the matrix-product and convolution kernels
   (``torch.profiler``, self time; the profiler's per-call overhead falls on the many small
   operations, so this share is a lower bound) and the rate those kernels reach (the counted
   FLOPs over that share of the update, against the peak: how close the products themselves
   run to the machine's limit, which no change outside them can raise);
4. with ``--parallel``, **two single-thread runs at once against one**: the aggregate throughput
   of two ``--num-threads 1`` trainings side by side (what a background training next to a
   second job, or a 2-trial sweep, gets) divided by one such run alone, and one two-thread run for
   comparison.

Timings on a shared virtual machine vary from minute to minute. Every figure is the median of
``--repeats`` blocks of ``--updates`` updates, and the fastest block is printed beside it; the
load average at the start is printed too, since another process on the machine halves what a
two-thread run can get.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from agents.training.hybrid_loss import hybrid_loss
from agents.training.presets import preset_config
from agents.training.rollout import Rollout
from agents.training.trainer import Trainer
from glimpse_env.atomic import write_json_atomic

DEFAULT_PRESETS = (
    "ram-cluttered60-6g",
    "dram-ram-glimpse-cluttered60-6g",
    "edram-cluttered100-small",
)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, size: int, repeats: int = 3) -> float:
    """Best float32 GFLOP/s of ``size x size`` matrix products at the current thread count."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    a @ b
    best = 0.0
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        best = max(best, 2 * size**3 / (time.perf_counter() - start) / 1e9)
    return best


def blocks(fn, updates: int, repeats: int, device: torch.device) -> tuple[float, float]:
    """(median, fastest) seconds per call of ``fn`` over ``repeats`` blocks of ``updates`` calls."""
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        for _ in range(updates):
            fn()
        _sync(device)
        times.append((time.perf_counter() - start) / updates)
    return statistics.median(times), min(times)


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


def count_flops(trainer: Trainer) -> int:
    """FLOPs of one real training update (counted, forward and backward)."""
    with FlopCounterMode(display=False) as counter:
        trainer.train_step()
    return int(counter.get_total_flops())


def env_alone(trainer: Trainer, episode: list[int]):
    """A function playing one batch of episodes at random locations (reset + every step)."""
    env, n = trainer.env, trainer.config.batch_size
    steps = env.episodes.config.num_glimpses
    generator = torch.Generator(device=trainer.device).manual_seed(0)
    labels = torch.zeros(n, dtype=torch.int64, device=trainer.device)

    def play() -> None:
        episode[0] += 1
        env.reset_to(trainer.train_keys, np.full(n, 10_000 + episode[0]))
        for _ in range(steps):
            where = torch.rand(n, 2, generator=generator, device=trainer.device) * 2 - 1
            env.step({"location": where, "label": labels})

    return play


def model_alone(trainer: Trainer):
    """A function taking one forward/backward/Adam step on glimpses recorded once (no env)."""
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
        episodes = Rollout.single(
            logits, torch.stack(log_probs, 1), torch.stack(baselines, 1), torch.stack(means, 1),
            torch.stack(locations, 1), rewards, labels, info["bbox"],
        )  # fmt: skip
        loss = hybrid_loss(episodes)
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.total.backward()
        trainer.optimizer.step()
        float(loss.total.detach())  # the trainer reads its scalars every update too

    return one_update


#: The kernels that do the counted FLOPs (matrix products and convolutions), by profiler name.
PRODUCT_KERNELS = (
    "aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::mkldnn_convolution",
    "aten::convolution_backward", "aten::_slow_conv2d_forward", "aten::_slow_conv2d_backward",
)  # fmt: skip


def product_share(fn, updates: int) -> float:
    """The fraction of ``updates`` calls' CPU time spent inside the product kernels
    (:data:`PRODUCT_KERNELS`, self time, so nested calls count once), by ``torch.profiler``."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(updates):
            fn()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    products = sum(e.self_cpu_time_total for e in events if e.key in PRODUCT_KERNELS)
    return products / total if total else float("nan")


def measure_preset(preset: str, args: argparse.Namespace, peak: float) -> dict:
    """Every figure of one preset (see the module docstring)."""
    config = preset_config(
        preset, batch_size=args.batch_size, device=args.device, num_threads=args.num_threads
    )
    trainer = Trainer(config, Path("runs") / "benchmark-unused", progress=False)
    device = trainer.device
    for _ in range(args.warmup):
        trainer.train_step()
    flops = count_flops(trainer)
    timer = EnvTimer(trainer.env, device)
    calls = args.updates * args.repeats
    update, update_best = blocks(trainer.train_step, args.updates, args.repeats, device)
    record = {
        "preset": preset,
        "batch_size": config.batch_size,
        "flops_per_update": flops,
        "ms_per_update": update * 1e3,
        "ms_per_update_fastest": update_best * 1e3,
        "samples_per_s": config.batch_size / update,
        "env_ms_per_update": timer.seconds / calls * 1e3,
        "gflops_achieved": flops / update / 1e9,
        "fraction_of_peak": flops / update / 1e9 / peak,
        "floor_ms": flops / peak / 1e6,
    }
    if device.type == "cpu":
        share = product_share(trainer.train_step, args.updates)
        record["product_time_fraction"] = share
        # The products' own rate: their FLOPs over the part of the update they take.
        record["product_fraction_of_peak"] = flops / (update * share) / 1e9 / peak
    if hasattr(trainer.model, "observe"):  # agents that step the env (RAM, DRAM)
        alone = env_alone(trainer, [0])
        record["env_alone_ms"] = blocks(alone, args.updates, args.repeats, device)[0] * 1e3
        step = model_alone(trainer)
        for _ in range(3):
            step()
        model, _ = blocks(step, args.updates, args.repeats, device)
        record["model_alone_ms"] = model * 1e3
        record["model_alone_fraction_of_peak"] = flops / model / 1e9 / peak
    return record


def worker(preset: str, batch_size: int, threads: int, seconds: float) -> float:
    """Updates per second of one training run (run in a child process by ``--parallel``)."""
    config = preset_config(preset, batch_size=batch_size, num_threads=threads)
    trainer = Trainer(config, Path("runs") / "benchmark-unused", progress=False)
    for _ in range(5):
        trainer.train_step()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        trainer.train_step()
        done += 1
    return done / (time.perf_counter() - start)


def run_workers(preset: str, batch_size: int, threads: int, copies: int, seconds: float) -> list:
    """Start ``copies`` worker processes at once; their updates per second."""
    command = [
        sys.executable, __file__, "--worker", preset, "--batch-size", str(batch_size),
        "--num-threads", str(threads), "--seconds", str(seconds),
    ]  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=environment)
        for _ in range(copies)
    ]
    rates = []
    for process in processes:
        out, _ = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"benchmark worker failed (exit {process.returncode})")
        rates.append(float(out.strip().splitlines()[-1]))
    return rates


def parallel_runs(preset: str, batch_size: int, seconds: float) -> dict:
    """Two single-thread runs at once against one alone, and one two-thread run."""
    one = run_workers(preset, batch_size, 1, 1, seconds)[0]
    two = run_workers(preset, batch_size, 1, 2, seconds)
    two_threads = run_workers(preset, batch_size, 2, 1, seconds)[0]
    return {
        "preset": preset,
        "one_run_1_thread_updates_per_s": one,
        "two_runs_1_thread_updates_per_s": two,
        "two_runs_over_one": sum(two) / one,
        "one_run_2_threads_updates_per_s": two_threads,
        "two_threads_over_one": two_threads / one,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=list(DEFAULT_PRESETS))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--updates", type=int, default=10, help="timed updates per block")
    parser.add_argument("--repeats", type=int, default=5, help="blocks per figure (median)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--num-threads", type=int, default=0, help="torch CPU threads (0: all)")
    parser.add_argument("--peak-size", type=int, default=2048, help="side of the peak matmul")
    parser.add_argument("--parallel", action="store_true", help="also time 2 runs side by side")
    parser.add_argument("--seconds", type=float, default=30.0, help="per parallel-runs worker")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--worker", metavar="PRESET", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        torch.set_num_threads(max(args.num_threads, 1))
        print(worker(args.worker, args.batch_size, max(args.num_threads, 1), args.seconds))
        return

    device = torch.device(args.device)
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    threads = torch.get_num_threads()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    peak = matmul_peak(device, args.peak_size)
    torch.set_num_threads(1)
    peak_one = matmul_peak(device, args.peak_size) if device.type == "cpu" else peak
    torch.set_num_threads(threads)
    print(f"device {args.device}, {threads} torch threads, batch {args.batch_size}, "
          f"load average {load:.2f} at start ({os.cpu_count()} cores)")  # fmt: skip
    print(f"matmul peak (fp32, {args.peak_size}^2): {peak:.1f} GFLOP/s at {threads} threads, "
          f"{peak_one:.1f} at 1")  # fmt: skip

    records = [measure_preset(preset, args, peak) for preset in args.presets]
    header = (f"{'preset':26s} {'GFLOP/upd':>9s} {'floor ms':>8s} {'ms/upd':>7s} {'fastest':>7s} "
              f"{'GFLOP/s':>7s} {'of peak':>7s} {'env ms':>6s} {'env alone':>9s} "
              f"{'model alone':>11s} {'in products':>11s} {'their rate':>10s}")  # fmt: skip
    print(header)
    for r in records:
        alone = f"{r['env_alone_ms']:9.1f}" if "env_alone_ms" in r else f"{'-':>9s}"
        model = f"{r['model_alone_ms']:11.1f}" if "model_alone_ms" in r else f"{'-':>11s}"
        products = f"{'-':>11s} {'-':>10s}"
        if "product_time_fraction" in r:
            products = (f"{r['product_time_fraction']:11.0%} "
                        f"{r['product_fraction_of_peak']:8.0%} ~")  # fmt: skip
        print(f"{r['preset']:26s} {r['flops_per_update'] / 1e9:9.2f} {r['floor_ms']:8.1f} "
              f"{r['ms_per_update']:7.1f} {r['ms_per_update_fastest']:7.1f} "
              f"{r['gflops_achieved']:7.1f} {r['fraction_of_peak']:7.0%} "
              f"{r['env_ms_per_update']:6.1f} {alone} {model} {products}")  # fmt: skip

    parallel = None
    if args.parallel:
        if device.type != "cpu":
            raise SystemExit("--parallel measures CPU runs; leave out --device")
        parallel = parallel_runs(args.presets[0], args.batch_size, args.seconds)
        p = parallel
        print(f"{p['preset']}: one 1-thread run {p['one_run_1_thread_updates_per_s']:.1f} upd/s; "
              f"two at once {' + '.join(f'{x:.1f}' for x in p['two_runs_1_thread_updates_per_s'])}"
              f" = {p['two_runs_over_one']:.2f}x one; one 2-thread run "
              f"{p['one_run_2_threads_updates_per_s']:.1f} upd/s = "
              f"{p['two_threads_over_one']:.2f}x one")  # fmt: skip

    if args.json:
        command = " ".join(["python benchmarks/train_throughput.py", *sys.argv[1:]])
        write_json_atomic(
            args.json,
            {
                "device": args.device,
                "cuda_device": (
                    torch.cuda.get_device_name(device) if device.type == "cuda" else None
                ),
                "machine": platform.processor() or platform.machine(),
                "cores": os.cpu_count(),
                "torch": torch.__version__,
                "torch_threads": threads,
                "load_average_at_start": load,
                "matmul_peak_gflops": peak,
                "matmul_peak_gflops_1_thread": peak_one,
                "updates_per_block": args.updates,
                "blocks": args.repeats,
                "presets": records,
                "parallel_runs": parallel,
                "command": command,
            },
        )
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
