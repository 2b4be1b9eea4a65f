"""The figures each zoo row is measured against: :data:`TARGETS`, read from ``targets.json``
beside this module (package data), the one table behind the zoo cards, the README's results
table and the benchmarks.

A row's target is a Monte-Carlo test error in percent: ``best_public``, the best published
figure for the row (a replication's or the paper's), is the goal the card's ``target.met``
reports; ``paper`` is the original paper's figure where the paper has the row. The sources and
their tasks are described in the docs (``docs/zoo.md``), not here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The table's file: package data of :mod:`agents`.
TARGETS_FILE = Path(__file__).with_name("targets.json")
TARGETS_FORMAT = "glimpse-env-targets-v1"


@dataclass(frozen=True)
class Target:
    """What a zoo row is measured against (Monte-Carlo test error, percent).

    Attributes:
        best_public: the best published figure for the row (a replication's or the paper's):
            the goal, which the card's ``target.met`` reports.
        source: where ``best_public`` comes from.
        paper: the original paper's figure (None where the paper has no such row).
        paper_source: which paper and table.
        anchor: where known, the compared figure's own task and protocol: ``source``,
            ``task`` (task fields on which our model is also scored, like for like),
            ``protocol``, ``matches`` (whether task and protocol are ours) and ``differs``.
    """

    best_public: float
    source: str
    paper: float | None = None
    paper_source: str = ""
    anchor: dict[str, Any] | None = None


def read_targets(path: str | Path = TARGETS_FILE) -> dict[str, Target]:
    """The rows of a targets file (``{"format", "rows": {name: {...}}}``).

    Raises:
        ValueError: not a targets file, or a row without ``best_public`` and ``source`` or with
            unknown fields (each error names the row).
    """
    try:
        data: Any = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not a readable targets file: {error}") from None
    if not isinstance(data, dict) or data.get("format") != TARGETS_FORMAT:
        raise ValueError(f"{path} is not a targets file (format {TARGETS_FORMAT!r})")
    rows: dict[str, Target] = {}
    for name, row in data.get("rows", {}).items():
        try:
            rows[name] = Target(**row)
        except TypeError as error:
            raise ValueError(f"{path}: row {name!r}: {error}") from None
    return rows


#: The rows of the papers' tables the zoo reproduces. A row without a model in ``models/`` is
#: listed as not yet trained in the README's results table.
TARGETS: dict[str, Target] = read_targets()
