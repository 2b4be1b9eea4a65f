"""The Recurrent Attention Model (Mnih et al. 2014) in one file, in the spirit of CleanRL.

    python examples/ram_minimal.py             # 60x60 cluttered MNIST, 6,000 updates of 128
    python examples/ram_minimal.py --updates 20000 --env-id TranslatedMNIST-v0

Everything is here, top to bottom: the environment (``gym.make_vec``, the same one users get),
the model, the rollout, the hybrid loss (cross-entropy + REINFORCE + baseline), the training
loop and a greedy error on the evaluation protocol's test canvases
(``reset(options={"evaluation_canvases": ...})``, the canvases every zoo card is scored on). It
imports nothing from this project but ``glimpse_env``. Its network is ``agents.models.ram.RAM``
layer for layer, with the same parameter names (``tests/test_examples_and_render.py`` loads one
into the other). The project's trainer (``train/ram_agent.py``) adds checkpoints, TensorBoard,
presets with a staircase schedule, Monte-Carlo evaluation and the model zoo; the mathematics is
the same.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import torch
import torch.nn.functional as F
from torch import nn

import glimpse_env  # noqa: F401  (registers the environments)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-id", default="ClutteredMNIST-v0")
    parser.add_argument("--num-envs", type=int, default=128, help="episodes per update")
    parser.add_argument("--updates", type=int, default=6000)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--location-std", type=float, default=0.11, help="normalised units")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--test-canvases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-every", type=int, default=500)
    return parser.parse_args()


class GlimpseNetwork(nn.Module):
    """``g = relu(FC(relu(FC(glimpse))) + FC(relu(FC(location))))``."""

    def __init__(self, glimpse_dim: int, hidden: int = 256) -> None:
        super().__init__()
        self.what1, self.what2 = nn.Linear(glimpse_dim, 128), nn.Linear(128, hidden)
        self.where1, self.where2 = nn.Linear(2, 128), nn.Linear(128, hidden)

    def forward(self, glimpse, location):
        what = self.what2(F.relu(self.what1(glimpse.flatten(1))))
        return F.relu(what + self.where2(F.relu(self.where1(location))))


class RAM(nn.Module):
    """Glimpse network, LSTM core, and three heads: location (mean), baseline, classifier."""

    def __init__(self, glimpse_dim: int, hidden: int = 256) -> None:
        super().__init__()
        self.glimpse_net = GlimpseNetwork(glimpse_dim, hidden)
        self.core = nn.LSTMCell(hidden, hidden)
        self.location_head = nn.Linear(hidden, 2)
        self.classifier = nn.Linear(hidden, 10)
        self.baseline_head = nn.Linear(hidden, 1)

    def step(self, glimpse, location, state):
        """Take in one glimpse ``(N, k, g, g)`` seen at ``location`` ``(N, 2)``."""
        return self.core(self.glimpse_net(glimpse, location), state)

    def location_mean(self, h):
        # Detached: REINFORCE trains the location head only (the replication's default).
        return torch.tanh(self.location_head(h.detach()))

    def baseline(self, h):
        return self.baseline_head(h.detach()).squeeze(-1)


def play(model, envs, obs, num_glimpses, location_std, sample=True):
    """Play one batch of episodes from the reset observation ``obs`` to the end.

    Returns ``(logits (N, 10), log_probs (N, T-1), baselines (N, T-1), rewards (N,))``.
    """
    n = obs["glimpse"].shape[0]
    state = (torch.zeros(n, model.core.hidden_size), torch.zeros(n, model.core.hidden_size))
    log_probs, baselines = [], []
    for t in range(num_glimpses):
        state = model.step(obs["glimpse"], obs["location"], state)
        if t == num_glimpses - 1:
            break
        mean = model.location_mean(state[0])
        policy = torch.distributions.Normal(mean, location_std)
        location = policy.sample() if sample else mean.detach()
        log_probs.append(policy.log_prob(location).sum(-1))
        baselines.append(model.baseline(state[0]))
        label = torch.zeros(n, dtype=torch.int64)  # read only on the last step
        obs, _, _, _, _ = envs.step({"location": location.clamp(-1, 1), "label": label})
    logits = model.classifier(state[0])
    answer = {"location": obs["location"], "label": logits.argmax(-1)}
    _, rewards, terminated, _, _ = envs.step(answer)  # reward 1 if the answer is right
    assert bool(terminated.all())
    return logits, torch.stack(log_probs, 1), torch.stack(baselines, 1), rewards


def main() -> None:
    args = parse_args()
    torch.manual_seed(args.seed)
    spec = gym.spec(args.env_id)
    num_glimpses = spec.kwargs["num_glimpses"]
    envs = gym.make_vec(args.env_id, num_envs=args.num_envs, output="torch")
    glimpse_dim = int(torch.tensor(envs.single_observation_space["glimpse"].shape).prod())
    model = RAM(glimpse_dim, args.hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.updates, eta_min=1e-4)
    envs.reset(seed=args.seed)
    started = time.perf_counter()
    for update in range(1, args.updates + 1):
        obs, info = envs.reset()  # the next canvas of every environment
        logits, log_probs, baselines, rewards = play(
            model, envs, obs, num_glimpses, args.location_std
        )
        # The hybrid loss: classification + REINFORCE on the locations + baseline regression.
        classification = F.cross_entropy(logits, info["label"])
        advantage = (rewards[:, None] - baselines).detach()
        reinforce = -(log_probs * advantage).sum(1).mean()
        baseline = F.mse_loss(baselines, rewards[:, None].expand_as(baselines))
        loss = classification + reinforce + baseline
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        decay.step()
        if update % args.log_every == 0 or update == args.updates:
            rate = update * args.num_envs / (time.perf_counter() - started)
            print(f"update {update}: loss {loss.item():.3f}, train accuracy "
                  f"{rewards.mean().item():.3f}, {rate:.0f} episodes/s")  # fmt: skip

    # Greedy error on the evaluation protocol's test canvases 0 .. n-1 (those of the zoo cards).
    batch = min(1000, args.test_canvases)
    test_envs = gym.make_vec(args.env_id, num_envs=batch, split="test", output="torch")
    errors = 0
    with torch.no_grad():
        for first in range(0, args.test_canvases, batch):
            ids = torch.arange(first, first + batch)
            obs, _ = test_envs.reset(options={"evaluation_canvases": ids.numpy()})
            _, _, _, rewards = play(
                model, test_envs, obs, num_glimpses, args.location_std, sample=False
            )
            errors += int(((rewards < 1) & (ids < args.test_canvases)).sum())
    print(f"greedy test error {100 * errors / args.test_canvases:.2f}% "
          f"({errors}/{args.test_canvases})")  # fmt: skip
    print("(the project's trainer: python train/ram_agent.py; tensorboard --logdir runs)")


if __name__ == "__main__":
    main()
