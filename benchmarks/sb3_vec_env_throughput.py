"""Environment steps per second that SB3 sees: native adapter vs DummyVecEnv of Python envs.

    python benchmarks/sb3_vec_env_throughput.py [--env ClutteredMNIST-v0] [--sizes 16 64 256]

Both sides step ``N`` episodes with the same random grid actions through SB3's ``VecEnv``
interface (``step_async`` / ``step_wait``, per-env info dicts, auto-reset with
``terminal_observation``): (a) ``DummyVecEnv`` of ``GridActions(gym.make(id))``, the usual SB3
set-up; (b) :class:`agents.sb3.vec_env.GlimpseSB3VecEnv` over the native vector env. Prints
steps/s and the ratio b/a, measured in this process.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv

import glimpse_env  # noqa: F401  (registers the ids)
from agents.sb3.vec_env import GlimpseSB3VecEnv
from glimpse_env.atomic import write_json_atomic
from glimpse_env.envs.wrappers import GridActions


def steps_per_second(venv, seconds: float, grid_size: int) -> float:
    rng = np.random.default_rng(0)
    n = venv.num_envs
    venv.seed(0)
    venv.reset()
    actions = [
        np.stack([rng.integers(0, grid_size, n), rng.integers(0, grid_size, n),
                  rng.integers(0, 10, n)], 1)
        for _ in range(64)
    ]  # fmt: skip
    for a in actions[:8]:  # warm-up
        venv.step(a)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        venv.step(actions[steps % len(actions)])
        steps += 1
    return steps * n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="ClutteredMNIST-v0")
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--grid-size", type=int, default=9)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    print(f"{args.env}: environment steps/s through SB3's VecEnv interface")
    print(f"{'N':>6s} {'DummyVecEnv':>12s} {'native':>12s} {'native/dummy':>13s}")
    for n in args.sizes:
        dummy = DummyVecEnv(
            [lambda: GridActions(gym.make(args.env), args.grid_size) for _ in range(n)]
        )
        native = GlimpseSB3VecEnv.from_id(args.env, n, grid_size=args.grid_size)
        a = steps_per_second(dummy, args.seconds, args.grid_size)
        b = steps_per_second(native, args.seconds, args.grid_size)
        rows.append({"num_envs": n, "dummy_steps_per_s": a, "native_steps_per_s": b})
        print(f"{n:6d} {a:12,.0f} {b:12,.0f} {b / a:12.1f}x")
    if args.json:
        write_json_atomic(args.json, {"env": args.env, "rows": rows})


if __name__ == "__main__":
    main()
