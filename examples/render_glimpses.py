"""Render glimpse trajectories as an animated GIF and a PNG strip.

    python examples/render_glimpses.py [--env ClutteredMNIST-v0] [--policy oracle|random]
                                       [--out glimpses.gif] [--episodes 4] [--seed 0]

Each frame shows the canvas, the path of glimpse centres, the squares of the current glimpse
(one colour per scale) and, on the right, the k patches the agent actually receives. The
``oracle`` policy walks towards the digit using the privileged ``info["bbox"]`` (on the
multi-digit tasks, to each digit in reading order from ``info["bboxes"]``): a picture of what a
trained agent should learn to do; ``random`` samples locations.

    python examples/render_glimpses.py --env ClutteredMNISTPairs-v0 --out pairs.gif
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gymnasium as gym
import numpy as np
from PIL import Image

import glimpse_env  # noqa: F401  (registers the environments)
from glimpse_env.render import image_grid, save_gif, trajectory_frames


def oracle_location(info: dict, canvas_size: int, step: int, per_digit: int) -> np.ndarray:
    """Where the oracle looks after action ``step`` (0-based): from the centre towards the first
    digit's centre (normalised), then straight to each later digit once the earlier one has had
    its ``per_digit`` glimpses."""
    boxes = info["bboxes"] if "bboxes" in info else [info["bbox"]]
    digit = min((step + 1) // per_digit, len(boxes) - 1)
    x0, y0, x1, y1 = boxes[digit]
    target = np.array([(x0 + x1) / canvas_size - 1, (y0 + y1) / canvas_size - 1])
    if digit > 0:
        return target.astype(np.float32)
    return (target * min(1.0, (step + 1) / max(1, per_digit - 2))).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="ClutteredMNIST-v0")
    parser.add_argument("--policy", choices=["oracle", "random"], default="oracle")
    parser.add_argument("--out", default="glimpses.gif", help="GIF path; a .png strip goes beside")
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fps", type=float, default=2.0)
    args = parser.parse_args()

    env = gym.make(args.env)
    base = env.unwrapped
    c = base.config
    rng = np.random.default_rng(args.seed)
    frames, finals = [], []
    for episode in range(args.episodes):
        obs, info = env.reset(seed=args.seed + episode)
        locations, glimpses = [obs["location"]], [obs["glimpse"]]
        canvas = base.canvas.copy()
        for step in range(c.episode_length):
            if args.policy == "oracle":
                location = oracle_location(info, canvas.shape[1], step, c.num_glimpses)
            else:
                location = rng.uniform(-1, 1, 2).astype(np.float32)
            obs, reward, terminated, _, info = env.step({"location": location, "label": 0})
            if not terminated:  # the final step's observation is after the decision
                locations.append(obs["location"])
                glimpses.append(obs["glimpse"])
        episode_frames = trajectory_frames(
            canvas,
            np.array(locations),
            np.array(glimpses),
            c.glimpse_size,
            c.num_scales,
            c.scale_factor,
            caption=f"label {info['label']}"
            if "labels" not in info
            else "labels " + " ".join(str(v) for v in info["labels"]),
        )
        frames += episode_frames + [episode_frames[-1]] * 2  # linger on the last frame
        finals.append(episode_frames[-1])
    gif = save_gif(frames, args.out, fps=args.fps)
    png = Path(args.out).with_suffix(".png")
    Image.fromarray(image_grid(finals, columns=len(finals))).save(png)
    print(f"wrote {gif} ({len(frames)} frames) and {png}")


if __name__ == "__main__":
    main()
