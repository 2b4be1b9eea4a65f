"""What a training run writes beside its checkpoints: TensorBoard events and ``metrics.jsonl``.

``metrics.jsonl`` holds the same scalars as TensorBoard, one JSON object per logged update
(``{"update": u, "tag": value, ...}``), so learning curves can be plotted and compared without
TensorBoard (``benchmarks/plot_curves.py``, ``benchmarks/collect_results.py``) and tests can
read the loss curve back. ``update`` is the run's progress in its unit: updates, or env steps for
the SB3 baselines (``final.json``'s ``progress_unit``). Every family logs its periodic
validation error under :data:`EVAL_KEY`, with ``time/wall_clock_s`` beside it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

from glimpse_env.atomic import atomic_path

METRICS_FILE = "metrics.jsonl"

#: The deterministic (greedy) validation error, in percent, of each evaluation during training.
EVAL_KEY = "valid/error_greedy"


def evaluations(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of the periodic validation evaluations (those holding :data:`EVAL_KEY`)."""
    return [r for r in records if EVAL_KEY in r]


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The records of ``run_dir/metrics.jsonl`` in order (empty if there is none)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return []
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


class RunLog:
    """Scalars, images and hparams of one run in ``run_dir``.

    Args:
        run_dir: the run's directory.
        resume_update: when resuming from a checkpoint taken at this update, records after it
            (written by the interrupted process after its last checkpoint) are dropped from
            ``metrics.jsonl`` and TensorBoard (``purge_step``), so the curve has no duplicates.
        tensorboard: also write TensorBoard events (False: ``metrics.jsonl`` only, for a
            trainer whose library writes its own events, as SB3 does).
    """

    def __init__(
        self, run_dir: str | Path, resume_update: int | None = None, tensorboard: bool = True
    ) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.metrics_path = self.run_dir / METRICS_FILE
        if resume_update is not None:
            # Keep what came before the checkpoint, and its update's training scalars; drop the
            # final evaluation of a finished run, which the resumed run writes again.
            kept = [
                r
                for r in read_metrics(self.run_dir)
                if r["update"] < resume_update
                or (r["update"] == resume_update and not any(map(_is_final, r)))
            ]
            with atomic_path(self.metrics_path) as tmp, tmp.open("w") as f:
                f.writelines(json.dumps(r) + "\n" for r in kept)
        self.writer = (
            SummaryWriter(str(self.run_dir), purge_step=resume_update) if tensorboard else None
        )

    def scalars(self, update: int, values: dict[str, float]) -> None:
        """Log ``values`` (tag -> number) at ``update``."""
        if self.writer is not None:
            for tag, value in values.items():
                self.writer.add_scalar(tag, value, update)
        record = {"update": update, **{k: _json_number(v) for k, v in values.items()}}
        with self.metrics_path.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def image(self, tag: str, image: np.ndarray, update: int) -> None:
        """Log an ``(H, W, 3)`` uint8 image (TensorBoard only)."""
        if self.writer is not None:
            self.writer.add_image(tag, image, update, dataformats="HWC")

    def hparams(self, config: dict[str, Any], metrics: dict[str, float]) -> None:
        """Record the run's configuration with its final metrics (TensorBoard's HPARAMS tab)."""
        if self.writer is None:
            return
        clean = {
            k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in config.items()
        }
        experiment, start, end = hparams(clean, metrics)
        for summary in (experiment, start, end):
            self.writer.file_writer.add_summary(summary)
        for tag, value in metrics.items():
            self.writer.add_scalar(tag, value)

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        """Flush and close the TensorBoard writer (a second call does nothing)."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _is_final(tag: str) -> bool:
    """Tags of the end-of-run evaluation (``test/...``, ``valid/..._final``)."""
    return tag.startswith("test/") or tag.endswith("_final")


def _json_number(value: float) -> float | str:
    value = float(value)
    return value if math.isfinite(value) else str(value)


def valid_curve(
    run_dir: str | Path,
    up_to: int | None = None,
    offset: tuple[int, float] = (0, 0.0),
) -> list[list[float]]:
    """The periodic validation reports of a run, ``[[progress, wall_clock_s, error %], ...]``
    from its ``metrics.jsonl`` (empty if it has none), up to progress ``up_to`` (None: all).

    ``offset``: ``(progress, seconds)`` added to every report (a warm start's parent's work, so
    the curve counts over the whole lineage).
    """
    curve = []
    for record in evaluations(read_metrics(run_dir)):
        if up_to is not None and record["update"] > up_to:
            continue
        curve.append(
            [
                int(offset[0]) + int(record["update"]),
                round(float(offset[1]) + float(record.get("time/wall_clock_s", 0.0)), 1),
                float(record[EVAL_KEY]),
            ]
        )
    return curve
