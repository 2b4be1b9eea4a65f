"""What every config dataclass here shares: JSON round trips and command-line flag types.

:class:`DictConfig` gives a dataclass ``to_dict`` (JSON-ready values) and ``from_dict`` (one
clear error naming unknown fields, as a saved ``config.json`` of another version would give);
:func:`flag_type` turns a field's annotation (``"int"``, ``"float | None"``) into the
``argparse`` ``type`` that parses it, and :func:`field_help` reads each field's one-line help
from the class docstring.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
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


#: A docstring entry: ``name: text``, ``a, b: text`` or a range ``first ... last: text``.
_ENTRY = re.compile(r"^(\s+)([a-z_][a-z0-9_]*(?:(?:, | \.\.\. )[a-z_][a-z0-9_]*)*): (.+)$")


def field_help(cls: type) -> dict[str, str]:
    """Each field's help text from the Google-style entries of ``cls``'s docstring.

    ``name: text`` documents one field, ``a, b: text`` several, ``first ... last: text`` the
    fields from ``first`` to ``last`` in declaration order; an entry's indented continuation
    lines are joined to it. Fields without an entry get no help."""
    names = [f.name for f in dataclasses.fields(cls)]
    helps: dict[str, str] = {}
    entry: tuple[list[str], int, list[str]] | None = None

    def close() -> None:
        if entry is not None:
            for name in entry[0]:
                helps[name] = " ".join(entry[2])

    for line in inspect.cleandoc(cls.__doc__ or "").splitlines():
        match = _ENTRY.match(line)
        if match:
            close()
            spec = match.group(2)
            if " ... " in spec:
                first, last = spec.split(" ... ")
                covered = names[names.index(first) : names.index(last) + 1]
            else:
                covered = [n for n in spec.split(", ") if n in names]
            entry = (covered, len(match.group(1)), [match.group(3).strip()])
        elif entry is not None and line.strip() and len(line) - len(line.lstrip()) > entry[1]:
            entry[2].append(line.strip())
        else:
            close()
            entry = None
    close()
    return helps


def plain_text(text: str) -> str:
    """A docstring fragment for a terminal: ``code`` and :role:`target` become plain words."""
    text = re.sub(r":[a-z]+:`~?(?:[\w.]*\.)?([\w]+)`", r"\1", text)
    return text.replace("``", "")
