"""Argument checks shared by the environment and the agents: one clear ``ValueError`` that
names the field, raised before any work starts."""

from __future__ import annotations

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
