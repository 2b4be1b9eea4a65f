"""``final.json``: how a finished run scored, one schema for every family of agent.

Every trainer (the attention agents', the supervised baselines', the SB3 baselines') writes it
through :func:`write_final` once training ends, and every reader (the comparison and result
scripts, the sweeps) reads it through :func:`read_final`, so no reader special-cases a family.

Fields (:class:`FinalResult`):

- ``schema`` (:data:`SCHEMA`), ``family`` (``"attention"``, ``"supervised"``, ``"sb3"``),
  ``agent`` (``"ram"``, ``"dram"``, ``"edram"``, ``"fc"``, ``"cnn"``, ``"cnn-large"``,
  ``"recurrent-ppo"``, ``"ppo"``), ``name`` (the run's preset or name) and ``env_id``;
- ``progress`` in ``progress_unit`` (``"updates"``, or ``"env_steps"`` for SB3) and
  ``env_steps`` (calls of ``env.step`` summed over the parallel environments; None for the
  supervised baselines, which never step an env);
- ``wall_clock_s``: seconds of training, its periodic evaluations and the final evaluation,
  summed over resumes; ``interrupted``: the run was stopped early (then scored as it was);
- ``weights``: the file that was scored (``checkpoint.pt``: the last weights; ``best.pt``: the
  lowest periodic validation error) and ``best_valid`` (``{"error_pct", "progress"}`` of that
  lowest periodic validation error);
- ``canvases``, ``eval_seed``: the fixed evaluation canvases (:mod:`glimpse_env.evaluation`),
  ``canvases`` of each split;
- ``valid_error_greedy`` / ``valid_errors_greedy`` and ``test_error_greedy`` /
  ``test_errors_greedy``: percent and count of wrong canvases, acting deterministically;
- ``valid_error_mc`` / ``valid_errors_mc`` and ``test_error_mc`` / ``test_errors_mc``: the same
  for the Monte-Carlo evaluation (``mc_samples`` sampled paths per canvas), None for families
  that are scored deterministically only;
- ``extra``: family-specific facts (SB3's ``timesteps_requested``, ...).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.evaluation import EvalResult
from glimpse_env.atomic import write_json_atomic

SCHEMA = "glimpse-env-final-v1"
FINAL_FILE = "final.json"
FAMILIES = ("attention", "supervised", "sb3")
#: The unit of ``progress`` per family.
PROGRESS_UNITS = {"attention": "updates", "supervised": "updates", "sb3": "env_steps"}
#: The family of each agent a trainer can train.
AGENT_FAMILIES = {
    "ram": "attention", "dram": "attention", "edram": "attention",
    "fc": "supervised", "cnn": "supervised", "cnn-large": "supervised",
    "recurrent-ppo": "sb3", "ppo": "sb3",
}  # fmt: skip


def family_of(agent: str) -> str:
    """The family (:data:`FAMILIES`) that trains ``agent``."""
    try:
        return AGENT_FAMILIES[agent]
    except KeyError:
        raise ValueError(f"unknown agent {agent!r}; known: {sorted(AGENT_FAMILIES)}") from None


def best_valid_record(best_valid: dict[str, Any]) -> dict[str, Any]:
    """``final.json``'s ``best_valid`` from a trainer's ``{"error_pct", "update"}`` (an error of
    ``inf``, no evaluation yet, is recorded as None)."""
    error = best_valid["error_pct"]
    return {"error_pct": error if math.isfinite(error) else None, "progress": best_valid["update"]}


@dataclass
class FinalResult:
    """The contents of ``final.json``; see the module docstring for each field."""

    family: str
    agent: str
    name: str
    env_id: str
    progress: int
    env_steps: int | None
    wall_clock_s: float
    interrupted: bool
    weights: str
    best_valid: dict[str, Any]
    canvases: int
    eval_seed: int
    valid_error_greedy: float
    valid_errors_greedy: int
    test_error_greedy: float
    test_errors_greedy: int
    mc_samples: int | None = None
    valid_error_mc: float | None = None
    valid_errors_mc: int | None = None
    test_error_mc: float | None = None
    test_errors_mc: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    schema: str = SCHEMA

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {self.family!r}")

    @property
    def progress_unit(self) -> str:
        """``"updates"`` or ``"env_steps"``: what ``progress`` counts."""
        return PROGRESS_UNITS[self.family]

    @property
    def stochastic(self) -> bool:
        """Whether the run was also scored by Monte-Carlo sampling (``*_mc`` set)."""
        return self.test_error_mc is not None

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "progress_unit": self.progress_unit}

    @classmethod
    def from_scores(
        cls,
        *,
        valid_greedy: EvalResult,
        test_greedy: EvalResult,
        valid_mc: EvalResult | None = None,
        test_mc: EvalResult | None = None,
        **fields: Any,
    ) -> FinalResult:
        """Build the record from the final evaluations (``*_mc`` None: scored greedily only)."""
        if (valid_mc is None) != (test_mc is None):
            raise ValueError("give both Monte-Carlo scores or neither")
        if valid_greedy.total != test_greedy.total:
            raise ValueError(
                f"valid and test were scored on {valid_greedy.total} and {test_greedy.total} "
                "canvases; final.json records one count"
            )
        mc: dict[str, Any] = {}
        if valid_mc is not None and test_mc is not None:
            mc = {
                "valid_error_mc": valid_mc.error_pct,
                "valid_errors_mc": valid_mc.errors,
                "test_error_mc": test_mc.error_pct,
                "test_errors_mc": test_mc.errors,
            }
        return cls(
            canvases=test_greedy.total,
            valid_error_greedy=valid_greedy.error_pct,
            valid_errors_greedy=valid_greedy.errors,
            test_error_greedy=test_greedy.error_pct,
            test_errors_greedy=test_greedy.errors,
            **mc,
            **fields,
        )


def write_final(run_dir: str | Path, result: FinalResult) -> Path:
    """Write ``run_dir/final.json`` atomically; returns its path."""
    path = Path(run_dir) / FINAL_FILE
    write_json_atomic(path, result.to_dict())
    return path


def read_final(run_dir: str | Path) -> FinalResult:
    """The :class:`FinalResult` of a finished run.

    Raises:
        FileNotFoundError: the run has no ``final.json`` (it has not finished).
        ValueError: the file is not a ``final.json`` of this schema (a run made before it).
    """
    path = Path(run_dir) / FINAL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: {Path(run_dir)} has not finished")
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not readable JSON: {error}") from None
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        found = record.get("schema") if isinstance(record, dict) else None
        raise ValueError(
            f"{path} is not a {SCHEMA} record (schema {found!r}): a run made by an older "
            "glimpse-env; score its weights again with the trainer's --eval"
        )
    known = {f.name for f in dataclasses.fields(FinalResult)}
    missing = sorted(
        f.name
        for f in dataclasses.fields(FinalResult)
        if f.name not in record
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    )
    if missing:
        raise ValueError(f"{path} lacks {missing}")
    try:
        return FinalResult(**{k: v for k, v in record.items() if k in known})
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from None
