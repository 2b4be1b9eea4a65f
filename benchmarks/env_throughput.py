"""Glimpse-steps per second: single env, SyncVectorEnv, the native vector env, the bare retina.

    python benchmarks/env_throughput.py [--env ClutteredMNIST-v0] [--sizes 256 1024]
                                        [--device cpu] [--seconds 3] [--json out.json]

All figures come from one process, so the ratios compare like with like:

(a) one ``ClutteredMNISTEnv`` stepped in a Python loop;
(b) ``gymnasium.vector.SyncVectorEnv`` of N such envs;
(c) the native ``GlimpseVectorEnv`` with N episodes (numpy output, autoreset NextStep, like b);
(d) the bare retina, ``extract_glimpses`` on a precomputed integral image (what (c) does per step),
    beside a batched crop-and-average alternative for comparison;
(e) the native vector env on colour canvases (``C = 3``) beside the same task in grey (``C = 1``):
    ``GlimpseEnv/Images-v0`` on the MNIST training digits, once as they are and once in three
    random hues, with the ``--env`` task's canvas, clutter and retina, at ``--channel-size``
    environments (canvas composition on every reset included).

For (d) it also prints the bytes each glimpse reads and the bandwidth that implies, against the
copy bandwidth of this machine measured in the same run (a large tensor clone): the fraction of
the memory system the retina uses.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import SyncVectorEnv

import glimpse_env
from glimpse_env.retina import extract_glimpses, integral_image, patch_sizes


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rate(fn: Callable[[], int], seconds: float, device: torch.device, min_calls: int = 3) -> float:
    """Items per second of ``fn`` (which returns the items it processed), after one warm-up."""
    fn()
    _sync(device)
    items, calls, start = 0, 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - start < seconds:
        items += fn()
        calls += 1
    _sync(device)
    return items / (time.perf_counter() - start)


def random_actions(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "location": rng.uniform(-1, 1, (n, 2)).astype(np.float32),
        "label": rng.integers(0, 10, n),
    }


def bench_single(env_id: str, seconds: float) -> float:
    env = gym.make(env_id)
    env.reset(seed=0)
    action = {"location": np.array([0.1, -0.2], np.float32), "label": 3}

    def step() -> int:
        _, _, terminated, _, _ = env.step(action)
        if terminated:
            env.reset()
        return 1

    return rate(step, seconds, torch.device("cpu"))


def bench_vector(venv: gym.vector.VectorEnv, n: int, seconds: float, device: torch.device) -> float:
    venv.reset(seed=0)
    actions = random_actions(n, np.random.default_rng(0))

    def step() -> int:
        venv.step(actions)
        return n

    return rate(step, seconds, device)


def crop_and_average(images: torch.Tensor, locations: torch.Tensor, g: int, k: int, s: int):
    """Batched alternative to the integral image: gather every pixel of every patch, then
    average blocks. Reads sum_i (g s^i)^2 pixels per glimpse instead of k (g+1)^2 table entries."""
    n, h, w = images.shape
    flat = torch.nn.functional.pad(images, (1, 0, 1, 0)).reshape(n, -1)  # index 0 reads zero
    out = []
    for i in range(k):
        p = g * s**i
        centre = (locations.double() + 1) / 2 * torch.tensor([w, h], device=images.device)
        start = torch.floor(centre - p / 2 + 0.5).long()  # (n, 2)
        r = torch.arange(p, device=images.device)
        xs, ys = start[:, 0:1] + r, start[:, 1:2] + r  # (n, p)
        inside = ((xs >= 0) & (xs < w))[:, None, :] & ((ys >= 0) & (ys < h))[:, :, None]
        index = torch.where(inside, (ys[:, :, None] + 1) * (w + 1) + xs[:, None, :] + 1, 0)
        patch = flat.gather(1, index.view(n, -1)).view(n, g, s**i, g, s**i)
        out.append(patch.float().mean(dim=(2, 4)) / 255.0)
    return torch.stack(out, 1)


def bench_channels(env_id: str, n: int, seconds: float, device: torch.device) -> dict:
    """(e): native steps/s of ``Images-v0`` on grey and on colour MNIST digits, the task's
    canvas, clutter and retina otherwise; prints and returns both and their ratio."""
    from glimpse_env.data.mnist import load_mnist
    from glimpse_env.data.sources import ImageSource

    digits = load_mnist("train").images
    hues = np.random.default_rng(0).uniform(0.2, 1.0, (len(digits), 1, 1, 3))
    colour = (digits[..., None] * hues).astype(np.uint8)
    labels = load_mnist("train").labels
    task = {key: value for key, value in gym.spec(env_id).kwargs.items() if key != "num_digits"}
    rates = {}
    for c, images in ((1, digits), (3, colour)):
        source = ImageSource.from_arrays((images, labels), valid_fraction=0.01, test_fraction=0.01)
        venv = gym.make_vec(
            "GlimpseEnv/Images-v0", num_envs=n, source=source, device=device, **task
        )
        rates[c] = bench_vector(venv, n, seconds, device)
    ratio = rates[3] / rates[1]
    print(
        f"(e) Images-v0 on {env_id}'s task, N={n}: C=1 {rates[1]:,.0f} glimpse-steps/s, "
        f"C=3 {rates[3]:,.0f} glimpse-steps/s, C=3/C=1 {ratio:.2f}x"
    )
    return {"num_envs": n, "c1_steps_s": rates[1], "c3_steps_s": rates[3], "c3_over_c1": ratio}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="ClutteredMNIST-v0")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--device", default="cpu", help="device of the native env and retina")
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--skip-sync", action="store_true", help="skip (a) and (b) (slow)")
    parser.add_argument("--channel-size", type=int, default=1024, help="N of (e)")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)

    spec_kwargs = gym.spec(args.env).kwargs
    g, k = spec_kwargs["glimpse_size"], spec_kwargs["num_scales"]
    s, size = 2, spec_kwargs["canvas_size"]
    table_entries = k * (g + 1) ** 2
    pixels_naive = sum(p * p for p in patch_sizes(g, k, s))
    results: dict = {
        "env": args.env,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "sizes": {},
    }
    print(
        f"{args.env}: {size}x{size} canvas, k={k} patches of {g}x{g}, device {device}, "
        f"{torch.get_num_threads()} torch threads"
    )

    # Copy bandwidth of this machine: read + write of a 256 MiB tensor into a preallocated one.
    big = torch.empty(64 * 2**20, dtype=torch.float32, device=device).uniform_()
    dst = torch.empty_like(big)
    copy_gbs = rate(lambda: dst.copy_(big).numel(), args.seconds, device) * 8 / 1e9
    results["copy_bandwidth_gb_s"] = copy_gbs
    print(f"memory copy bandwidth (read+write): {copy_gbs:.1f} GB/s")

    if not args.skip_sync:
        single = bench_single(args.env, args.seconds)
        results["single_env_steps_s"] = single
        print(f"(a) single env, Python loop: {single:,.0f} glimpse-steps/s")

    header = (
        f"{'N':>6} {'(b) sync':>12} {'(c) native':>12} {'c/b':>7} {'(d) retina':>13} "
        f"{'crop+avg':>12} {'d/crop':>7} {'retina GB/s':>12} {'of copy bw':>10}"
    )
    print(header)
    for n in args.sizes:
        row: dict = {}
        if not args.skip_sync:
            sync = SyncVectorEnv([lambda: gym.make(args.env) for _ in range(n)])
            row["sync_steps_s"] = bench_vector(sync, n, args.seconds, torch.device("cpu"))
            sync.close()
        native = gym.make_vec(
            args.env, num_envs=n, vectorization_mode="vector_entry_point", device=device
        )
        row["native_steps_s"] = bench_vector(native, n, args.seconds, device)
        canvases = native.unwrapped.canvases
        table = integral_image(canvases)
        locations = torch.rand(n, 2, device=device) * 2 - 1
        row["retina_glimpses_s"] = rate(
            lambda t=table, loc=locations: extract_glimpses(t, loc, g, k, s).shape[0],
            args.seconds,
            device,
        )
        row["crop_average_glimpses_s"] = rate(
            lambda c=canvases, loc=locations: crop_and_average(c, loc, g, k, s).shape[0],
            args.seconds,
            device,
        )
        # Bytes per glimpse: table entries read, int64 index written+read, float32 output.
        row["retina_bytes_per_glimpse"] = (
            table_entries * (table.table.element_size() + 16) + k * g * g * 4
        )
        row["table_entries_per_glimpse"] = table_entries
        row["naive_pixels_per_glimpse"] = pixels_naive
        retina_gbs = row["retina_glimpses_s"] * row["retina_bytes_per_glimpse"] / 1e9
        row["retina_gb_s"] = retina_gbs
        row["retina_fraction_of_copy_bandwidth"] = retina_gbs / copy_gbs
        if "sync_steps_s" in row:
            row["native_over_sync"] = row["native_steps_s"] / row["sync_steps_s"]
        results["sizes"][n] = row
        sync_txt = f"{row['sync_steps_s']:12,.0f}" if "sync_steps_s" in row else f"{'-':>12}"
        ratio_txt = f"{row['native_over_sync']:6.0f}x" if "native_over_sync" in row else f"{'-':>7}"
        print(
            f"{n:>6} {sync_txt} {row['native_steps_s']:12,.0f} {ratio_txt} "
            f"{row['retina_glimpses_s']:13,.0f} {row['crop_average_glimpses_s']:12,.0f} "
            f"{row['retina_glimpses_s'] / row['crop_average_glimpses_s']:6.1f}x "
            f"{retina_gbs:12.2f} {row['retina_fraction_of_copy_bandwidth']:9.1%}"
        )
    print(
        f"per glimpse: integral image reads {table_entries} table entries; "
        f"a crop reads {pixels_naive} pixels"
    )
    results["channels"] = bench_channels(args.env, args.channel_size, args.seconds, device)
    print(f"glimpse_env {glimpse_env.__version__}, torch {torch.__version__}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
