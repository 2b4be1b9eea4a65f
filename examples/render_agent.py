"""Watch a trained agent: its glimpse paths on test canvases, as a PNG grid and an animated GIF.

    python examples/render_agent.py ram-cluttered60-6g --out ram.gif [--episodes 8]   # zoo name
    python examples/render_agent.py runs/<run>/checkpoint.pt --out ram.gif

Greedy policy (the mean location) on the first ``--episodes`` canvases of the fixed test set.
Each GIF frame shows, for every episode, the path so far, the squares of the current glimpse (for
EDRAM, the affine window it samples: scaled, rotated or sheared) and the patches the agent
receives at that step; the caption is ``label -> answer``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from agents import zoo
from glimpse_env.affine_sensor import affine_glimpse
from glimpse_env.atomic import atomic_path
from glimpse_env.render import image_grid, save_gif, trajectory_frames
from glimpse_env.retina import extract_glimpses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a zoo name, a zoo file or a training checkpoint.pt")
    parser.add_argument("--out", type=Path, default=Path("agent.gif"), help="a .png goes beside")
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--columns", type=int, default=4)
    parser.add_argument("--fps", type=float, default=1.5)
    args = parser.parse_args()
    if args.out.suffix.lower() != ".gif":
        sys.exit(f"error: --out must be a .gif (the .png goes beside it), got {args.out}")

    try:
        agent = zoo.load(args.model)
        examples = agent.trajectories(args.episodes, "test")
    except (ValueError, FileNotFoundError) as error:
        sys.exit(f"error: {error}")
    task = agent.task
    canvases = torch.from_numpy(examples.canvases)
    per_episode = []
    windows = examples.windows  # EDRAM's affine windows, else None (retina squares)
    for i in range(args.episodes):
        locations = torch.from_numpy(examples.locations[i])
        episode_canvas = canvases[i : i + 1].expand(len(locations), *canvases.shape[1:])
        if windows is not None:
            size = agent.config.window_size
            theta = torch.from_numpy(windows[i]).float()
            glimpses = affine_glimpse(episode_canvas, theta, size).unsqueeze(1).numpy()
        else:
            glimpses = extract_glimpses(
                episode_canvas, locations, task.glimpse_size, task.num_scales, task.scale_factor
            ).numpy()
        caption = f"{examples.labels[i]} -> {examples.predictions[i]}"
        per_episode.append(
            trajectory_frames(
                examples.canvases[i],
                examples.locations[i],
                glimpses,
                task.glimpse_size,
                task.num_scales,
                task.scale_factor,
                caption=caption,
                windows=None if windows is None else windows[i],
            )
        )
    frames = [
        image_grid([episode[t] for episode in per_episode], columns=args.columns)
        for t in range(len(per_episode[0]))
    ]
    save_gif(frames, args.out, fps=args.fps)
    png = args.out.with_suffix(".png")
    with atomic_path(png) as tmp:
        Image.fromarray(np.asarray(frames[-1])).save(tmp, format="PNG")
    wrong = int((examples.predictions != examples.labels).sum())
    print(f"greedy: {wrong}/{args.episodes} of these test canvases wrong; wrote {args.out}, {png}")


if __name__ == "__main__":
    main()
