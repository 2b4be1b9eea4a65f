"""Argument checks shared by the environment and the agents: one clear ``ValueError`` that
names the field, raised before any work starts."""

from __future__ import annotations

import os
from typing import Any


def check_int(name: str, value: Any, minimum: int = 1, note: str = "") -> int:
    """``value`` if it is an int (not a bool) of at least ``minimum``.

    Args:
        name: the field or flag, as the user wrote it (named in the message).
        value: what was given.
        minimum: the smallest value allowed.
        note: what the number counts, e.g. ``"pixels"``, added to the message.

    Raises:
        ValueError: ``"{name} must be a positive int ({note}), got {value!r}"`` (or ``an int >=
            {minimum}``).
    """
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        kind = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        detail = f" ({note})" if note else ""
        raise ValueError(f"{name} must be {kind}{detail}, got {value!r}")
    return value


def machine_memory_bytes() -> int:
    """This machine's physical memory in bytes (a large figure where the OS does not say)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return 1 << 50


def check_memory(what: str, needs: dict[str, int], copies: int = 1) -> None:
    """Refuse, before anything is allocated, a size whose memory would exceed the machine's.

    Args:
        what: what is being made, for the message (``"one environment"``).
        needs: bytes that each field's size costs (an estimate of the largest allocations).
        copies: how many of them are made (``num_envs``).

    Raises:
        ValueError: naming the field that costs the most, its share and the machine's memory.
    """
    total = copies * sum(needs.values())
    limit = machine_memory_bytes()
    if total > limit:
        field, cost = max(needs.items(), key=lambda item: item[1])
        raise ValueError(
            f"{what} would need about {total / 2**30:,.1f} GiB ({field}: "
            f"{copies * cost / 2**30:,.1f} GiB), more than this machine's "
            f"{limit / 2**30:,.1f} GiB: lower {field}"
        )
