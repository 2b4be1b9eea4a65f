"""What every config dataclass here shares: JSON round trips and command-line flag types.

:class:`DictConfig` gives a dataclass ``to_dict`` (JSON-ready values) and ``from_dict`` (one
clear error naming unknown fields, as a saved ``config.json`` of another version would give);
:func:`flag_type` turns a field's annotation (``"int"``, ``"float | None"``) into the
``argparse`` ``type`` that parses it, :func:`field_help` reads each field's one-line help
from the class docstring, and :func:`add_config_flags` / :func:`given_fields` make every
script's config flags from its dataclass (the attention agents', the supervised and the SB3
baselines' command lines).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import warnings
from collections.abc import Collection, Sequence
from typing import Any, TypeVar

Config = TypeVar("Config", bound="DictConfig")


def parse_count_range(text: str) -> int | list[int]:
    """A count flag's value: ``"4"`` -> 4, or a range ``"2-8"`` / ``"2,8"`` -> ``[2, 8]``
    (inclusive; e.g. ``--num-distractors 2-8``, a clutter count drawn per canvas)."""
    parts = re.split(r"[,-]", text.strip())
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an int or a range LOW-HIGH, got {text!r}"
        ) from None
    if len(values) == 1:
        return values[0]
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"expected an int or a range LOW-HIGH, got {text!r}")
    return values


#: Annotation text -> the argparse ``type`` of its flag. ``CountRange`` is ``int | (low, high)``.
_PARSERS: dict[str, Any] = {"int": int, "float": float, "str": str, "CountRange": parse_count_range}


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
    """Each field's help text from the Google-style entries of the docstrings of ``cls`` and
    its dataclass bases (a subclass's entry wins).

    ``name: text`` documents one field, ``a, b: text`` several, ``first ... last: text`` the
    fields from ``first`` to ``last`` in declaration order; an entry's indented continuation
    lines are joined to it. Fields without an entry get no help."""
    helps: dict[str, str] = {}
    for klass in reversed(cls.__mro__):  # a subclass's entries win over its bases'
        if dataclasses.is_dataclass(klass) and "__doc__" in vars(klass):
            helps.update(_docstring_help(klass, [f.name for f in dataclasses.fields(cls)]))
    return helps


def _docstring_help(cls: type, names: list[str]) -> dict[str, str]:
    """The field entries of ``cls``'s own docstring (see :func:`field_help`)."""
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


def flag_name(field_name: str) -> str:
    """``location_std`` -> ``--location-std``."""
    return "--" + field_name.replace("_", "-")


def add_config_flags(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    *,
    skip: Collection[str] = (),
    helps: dict[str, str] | None = None,
    aliases: dict[str, tuple[str, ...]] | None = None,
    deprecated: dict[str, str] | None = None,
    choices: dict[str, Sequence[str]] | None = None,
    show_defaults: bool = True,
) -> None:
    """One flag per field of the config dataclass ``cls`` (``--location-std``), each with the
    field's docstring entry (or its ``metadata["help"]``) as its help (:func:`field_help`) and
    default None (not given: the preset's or the class's value). Boolean fields get ``--x`` /
    ``--no-x``.

    Args:
        skip: fields that get no flag (set by the script itself, or not from a command line).
        helps: help texts that replace the docstring's.
        aliases: more spellings of a field's flag.
        deprecated: ``{old flag: field}``: an old spelling, hidden from ``--help``, that still
            sets the field with a warning (:func:`given_fields`).
        choices: the allowed values of some fields.
        show_defaults: end each help with the class's default (False where a preset's value
            is the default).

    Raises:
        TypeError: a field whose type has no command-line parser and is not skipped.
    """
    texts = {**field_help(cls), **(helps or {})}
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        text = plain_text(texts.get(field.name) or field.metadata.get("help", ""))
        default = defaults[field.name]
        if show_defaults and default is not dataclasses.MISSING and default is not None:
            text = f"{text} (default {default})" if text else f"(default {default})"
        flags = [flag_name(field.name), *(aliases or {}).get(field.name, ())]
        if field.type == "bool":
            parser.add_argument(
                *flags, action=argparse.BooleanOptionalAction, default=None, dest=field.name,
                help=text,
            )  # fmt: skip
            continue
        parse, optional = flag_type(field.type)
        if not callable(parse):
            raise TypeError(f"no command-line parser for field {field.name}: {field.type}")
        extra: dict[str, Any] = {}
        if choices and field.name in choices:
            extra["choices"] = choices[field.name]
        parser.add_argument(
            *flags, type=parse, default=None, dest=field.name,
            help=f"{text} (optional)" if optional else text, **extra,
        )  # fmt: skip
    for old, name in (deprecated or {}).items():
        parse, _ = flag_type(next(f.type for f in dataclasses.fields(cls) if f.name == name))
        parser.add_argument(
            old, type=parse, default=None, dest=_deprecated_dest(old), help=argparse.SUPPRESS
        )


def _deprecated_dest(flag: str) -> str:
    return "deprecated_" + flag.lstrip("-").replace("-", "_")


def given_fields(
    args: argparse.Namespace,
    cls: type,
    skip: Collection[str] = (),
    deprecated: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The fields of ``cls`` given on the command line (flags left out are None), old
    spellings (``deprecated``, see :func:`add_config_flags`) included with a ``FutureWarning``.

    Raises:
        ValueError: a field given both by its flag and by an old spelling.
    """
    given = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(cls)
        if f.name not in skip and getattr(args, f.name, None) is not None
    }
    for old, name in (deprecated or {}).items():
        value = getattr(args, _deprecated_dest(old), None)
        if value is None:
            continue
        if name in given:
            raise ValueError(f"give {flag_name(name)} or {old}, not both")
        warnings.warn(
            f"{old} is now {flag_name(name)}; {old} will be removed in the next version",
            FutureWarning,
            stacklevel=2,
        )
        given[name] = value
    return given
