"""What every config dataclass here shares: JSON round trips and command-line flag types.

:class:`DictConfig` gives a dataclass ``to_dict`` (JSON-ready values) and ``from_dict`` (one
clear error naming unknown fields, as a saved ``config.json`` of another version would give);
:func:`flag_type` turns a field's annotation (``"int"``, ``"float | None"``) into the
``argparse`` ``type`` that parses it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

Config = TypeVar("Config", bound="DictConfig")
_PARSERS = {"int": int, "float": float, "str": str}


class DictConfig:
    """Mixin for config dataclasses: ``to_dict`` / ``from_dict``."""

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict of JSON-ready values."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[Config], values: dict[str, Any]) -> Config:
        """The config of ``values`` (a ``to_dict``), validated by the class.

        Raises:
            ValueError: ``values`` names fields the class does not have.
        """
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown config fields {unknown}")
        return cls(**values)


def flag_type(annotation: object) -> tuple[Any, bool]:
    """``(parser, optional)`` of a field annotation such as ``"int | None"``: the parser is
    ``int``, ``float`` or ``str``, or the annotation's text when it has none (not parseable)."""
    parts = [p.strip() for p in str(annotation).split("|")]
    base = next(p for p in parts if p != "None")
    return _PARSERS.get(base, base), "None" in parts
