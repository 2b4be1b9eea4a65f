"""A random agent on ClutteredMNIST-v0: the single env, then the native vector env.

    python examples/random_agent.py [--env ClutteredMNIST-v0] [--episodes 20] [--num-envs 1024]

A random label is right 1/C of the time (C = 10 digits, or 19 sums on MNISTAddition-v0); that
is the floor every agent must beat.
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np

import glimpse_env  # noqa: F401  (registers the environments)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="ClutteredMNIST-v0")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--num-envs", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    env = gym.make(args.env)
    env.action_space.seed(args.seed)
    rewards = []
    for episode in range(args.episodes):
        obs, info = env.reset(seed=args.seed + episode)
        terminated, total = False, 0.0
        while not terminated:
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            total += reward
        rewards.append(total / len(env.unwrapped.config.answer_steps))
    print(f"single env: {args.episodes} episodes, accuracy {np.mean(rewards):.3f}")

    venv = gym.make_vec(args.env, num_envs=args.num_envs)  # the native vector env
    venv.action_space.seed(args.seed)
    obs, info = venv.reset(seed=args.seed)
    # Every episode lasts the same number of steps (num_glimpses per digit to name), so the
    # whole batch ends together; each named label scores reward 1 if right.
    config = venv.unwrapped.config
    total = np.zeros(args.num_envs)
    terminated = np.zeros(args.num_envs, dtype=bool)
    while not terminated.all():
        obs, reward, terminated, truncated, info = venv.step(venv.action_space.sample())
        total += reward
    accuracy = total.sum() / (args.num_envs * len(config.answer_steps))
    print(
        f"vector env: {args.num_envs} episodes in one batch, accuracy {accuracy:.3f} "
        f"(glimpse batch {obs['glimpse'].shape})"
    )


if __name__ == "__main__":
    main()
