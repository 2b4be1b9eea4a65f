"""A random agent on ClutteredMNIST-v0: the single env, then the native vector env.

    python examples/random_agent.py [--env ClutteredMNIST-v0] [--episodes 20] [--num-envs 1024]

A random label is right 10% of the time; that is the floor every agent must beat.
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
        terminated = False
        while not terminated:
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        rewards.append(reward)
    print(f"single env: {args.episodes} episodes, accuracy {np.mean(rewards):.3f}")

    venv = gym.make_vec(args.env, num_envs=args.num_envs)  # the native vector env
    venv.action_space.seed(args.seed)
    obs, info = venv.reset(seed=args.seed)
    scored = []
    for _ in range(venv.unwrapped.config.num_glimpses):
        obs, reward, terminated, truncated, info = venv.step(venv.action_space.sample())
    scored = reward[terminated]
    print(
        f"vector env: {len(scored)} episodes in one batch, accuracy {scored.mean():.3f} "
        f"(glimpse batch {obs['glimpse'].shape})"
    )


if __name__ == "__main__":
    main()
