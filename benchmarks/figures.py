"""Matplotlib helpers shared by the benchmark scripts (headless backend, atomic PNG writes)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

from glimpse_env.atomic import atomic_path


def pyplot() -> ModuleType:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (works without a display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Any, path: Path, dpi: int = 90) -> None:
    """Lay out ``fig``, write it to ``path`` atomically (no half-written PNG), close it."""
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    fig.clf()
    pyplot().close(fig)
