"""Retire a zoo model: its card to ``results/retired/``, a row in that folder's README with the
command that restores it from git history, and its files out of ``models/``.

    python -m agents.zoo_retire ram-translated60-8g --label seed0 \\
        --why "the same one command with seed 0; replaced by seed 1, chosen on valid"

``python -m agents.zoo_card RUN/checkpoint.pt --name NAME --if-better --retire-as LABEL --why
TEXT`` does the same for the model that a publish replaces, and only if it replaces it.

The weights themselves stay in git history, so a model can be retired only when its files are
committed as they are on disk: otherwise the restore command would name weights that git never
saw. The card goes to ``<retired>/<name>-<label>.json`` unchanged (the figures it states are
still those of the restorable weights).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.zoo import LEGACY_SUFFIX, SUFFIX, card_path, check_name, models_dir, read_card
from glimpse_env.atomic import atomic_path

#: The retired cards and their README, in a checkout.
RETIRED_DIR = Path(__file__).resolve().parents[1] / "results" / "retired"


@dataclass(frozen=True)
class Retirement:
    """A zoo model ready to be retired: checked, nothing written yet."""

    name: str
    label: str
    why: str
    weights: Path  #: the zoo file in ``models/`` (``.safetensors``, or the first format's ``.pt``)
    card: dict[str, Any]  #: its card as it is now
    card_text: str  #: the card file's text, copied as it is
    revision: str  #: the short hash of the last commit that wrote the weights
    weights_in_repo: str  #: the weights' path from the repository root
    retired_dir: Path
    retired_card_in_repo: str  #: the retired card's path from the repository root

    @property
    def retired_card(self) -> Path:
        return self.retired_dir / f"{self.name}-{self.label}.json"

    def readme_row(self) -> str:
        """The README row: name and card, why, the card's last MC test error, how to restore."""
        mc = self.card["test"]["mc"]
        card_in_models = card_path(self.weights_in_repo)
        restore = (
            f"`git show {self.revision}:{self.weights_in_repo} > {self.weights_in_repo}` and "
            f"`cp {self.retired_card_in_repo} {card_in_models.as_posix()}`"
        )
        return (
            f"| `{self.name}` (card `{self.retired_card.name}`) | {self.why} | "
            f"{mc['error_pct']:.2f}% ({mc['errors']}/{mc['canvases']}), "
            f"`{self.card['env_id']}` | {restore} |"
        )

    def record(self) -> Path:
        """Write the retired card and its README row (the model's files are left in place).
        Returns the retired card's path."""
        with atomic_path(self.retired_card) as tmp:
            tmp.write_text(self.card_text)
        readme = self.retired_dir / "README.md"
        lines = readme.read_text().splitlines()
        last_row = max(i for i, line in enumerate(lines) if line.startswith("|"))
        lines.insert(last_row + 1, self.readme_row())
        with atomic_path(readme) as tmp:
            tmp.write_text("\n".join(lines) + "\n")
        return self.retired_card

    def retire(self) -> Path:
        """Record the retirement, then remove the model's weights and card from ``models/``."""
        path = self.record()
        self.weights.unlink()
        card_path(self.weights).unlink()
        return path


def _git(directory: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), *args], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        message = "retiring a zoo model needs git (its weights stay in git history)"
        raise ValueError(message) from None
    if done.returncode != 0:
        raise ValueError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def _in_repo(path: Path, top: Path) -> str:
    try:
        return path.resolve().relative_to(top).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def plan(
    name: str,
    label: str,
    why: str,
    directory: Path | None = None,
    retired_dir: Path | None = None,
) -> Retirement:
    """Check that zoo model ``name`` can be retired as ``<name>-<label>``: its weights and card
    exist and are committed unchanged, the retired card is new, and the README has its table.
    One ``ValueError`` naming the problem otherwise; nothing is written."""
    check_name(name)
    check_name(label)
    if not why.strip() or "|" in why or "\n" in why:
        raise ValueError("--why must be one line of text without '|' (it is a table cell)")
    directory = Path(directory or models_dir())
    retired_dir = Path(retired_dir or RETIRED_DIR)
    weights = next(
        (p for p in (directory / f"{name}{SUFFIX}", directory / f"{name}{LEGACY_SUFFIX}")
         if p.is_file()),
        None,
    )  # fmt: skip
    if weights is None or not card_path(weights).is_file():
        raise ValueError(f"{directory / name}: no zoo model with a card to retire")
    card = read_card(card_path(weights))
    if "test" not in card or "env_id" not in card:
        raise ValueError(f"{card_path(weights)}: the card has no test figures to record")
    retired = retired_dir / f"{name}-{label}.json"
    if retired.exists():
        raise ValueError(f"{retired} exists: choose another --label")
    readme = retired_dir / "README.md"
    if not readme.is_file() or not any(
        line.startswith("|") for line in readme.read_text().splitlines()
    ):
        raise ValueError(f"{readme}: no table of retired models to add the row to")
    files = [weights.name, card_path(weights).name]
    _git(directory, "ls-files", "--error-unmatch", "--", *files)
    if _git(directory, "status", "--porcelain", "--", *files):
        raise ValueError(
            f"{weights} or its card differs from the last commit: commit it first, so that the "
            "retired weights stay in git history"
        )
    top = Path(_git(directory, "rev-parse", "--show-toplevel")).resolve()
    revision = _git(directory, "log", "-1", "--format=%h", "--", weights.name)
    return Retirement(
        name=name,
        label=label,
        why=why.strip(),
        weights=weights,
        card=card,
        card_text=card_path(weights).read_text(),
        revision=revision,
        weights_in_repo=_in_repo(weights, top),
        retired_dir=retired_dir,
        retired_card_in_repo=_in_repo(retired, top),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="the zoo model, e.g. ram-translated60-8g")
    parser.add_argument("--label", required=True, help="the retired card is <name>-<label>.json")
    parser.add_argument("--why", required=True, help="one line: why it leaves the zoo")
    parser.add_argument("--models-dir", type=Path, default=None, help="default: models/")
    parser.add_argument("--retired-dir", type=Path, default=None, help="default: results/retired/")
    args = parser.parse_args(argv)
    try:
        retirement = plan(args.name, args.label, args.why, args.models_dir, args.retired_dir)
        path = retirement.retire()
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"retired {args.name}: card {path}, restore with {retirement.readme_row().split('|')[4]}")
    print("commit the removal from models/ with the retired card and README row")
    return 0


if __name__ == "__main__":
    sys.exit(main())
