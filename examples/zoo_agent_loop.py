"""Run a zoo agent in your own loop: a plain ``gym.make`` env, then ``gym.make_vec``.

    python examples/zoo_agent_loop.py [--model ram-cluttered60-6g] [--canvases 200]

Both loops play canvases ``0 .. n-1`` of the evaluation protocol (``glimpse_env.evaluation``),
so their accuracy is the greedy accuracy of the model's card on those canvases.
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np

import glimpse_env  # noqa: F401  (registers the environments)
from agents import zoo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ram-cluttered60-6g", help="zoo name or file")
    parser.add_argument("--canvases", type=int, default=200)
    args = parser.parse_args()
    agent = zoo.load(args.model)
    task = agent.config.task_kwargs()

    env = gym.make(agent.config.env_id, split="test", **task)
    right = 0
    for canvas in range(args.canvases):
        obs, info = env.reset(options={"evaluation_canvas": canvas})
        state, start, done, rewards = None, True, False, 0.0
        while not done:
            action, state = agent.predict(obs, state, episode_start=start)
            obs, reward, done, truncated, info = env.step(action)
            start, rewards = False, rewards + reward
        right += rewards == len(env.unwrapped.config.answer_steps)
    print(f"gym.make: {right}/{args.canvases} right")

    venv = gym.make_vec(agent.config.env_id, num_envs=args.canvases, split="test", **task)
    obs, info = venv.reset(options={"evaluation_canvases": np.arange(args.canvases)})
    state, start = None, np.ones(args.canvases, dtype=bool)
    rewards, done = np.zeros(args.canvases), np.zeros(args.canvases, dtype=bool)
    while not done.all():
        action, state = agent.predict(obs, state, episode_start=start)
        obs, reward, done, truncated, info = venv.step(action)
        start, rewards = np.zeros_like(start), rewards + reward
    answers = len(venv.unwrapped.config.answer_steps)
    print(f"gym.make_vec: {int((rewards == answers).sum())}/{args.canvases} right")


if __name__ == "__main__":
    main()
