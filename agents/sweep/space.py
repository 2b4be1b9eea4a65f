"""Search spaces for sweeps: ``name=dist(args)`` flags or a small YAML/JSON file.

Four distributions, written as in the flags::

    lr=loguniform(3e-4,3e-3)        # log-uniform on [low, high), both > 0
    location_std=uniform(0.05,0.3)  # uniform on [low, high)
    core=choice(lstm,rnn)           # one of the values, drawn by the searcher
    num_glimpses=grid(6,8)          # every value, each combined with every other grid

A file holds the same as a mapping, either as the flag's text or as ``{dist: [args]}``::

    lr: loguniform(3e-4, 3e-3)
    location_std: {uniform: [0.05, 0.3]}

Values are read as JSON numbers where they parse as one, else kept as strings. Nothing here
imports Ray: :func:`to_tune` turns a space into Ray Tune's domains when the sweep starts.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DISTRIBUTIONS = ("loguniform", "uniform", "choice", "grid")
_FLAG = re.compile(r"^\s*(?P<name>[A-Za-z_][\w.]*)\s*=\s*(?P<dist>\w+)\s*\((?P<args>.*)\)\s*$")


@dataclass(frozen=True)
class Dimension:
    """One swept field: ``name`` drawn from ``dist(*args)``."""

    name: str
    dist: str
    args: tuple[Any, ...]

    def __post_init__(self) -> None:
        where = f"{self.name}={self.dist}{self.args}"
        if self.dist not in DISTRIBUTIONS:
            raise ValueError(f"{where}: unknown distribution {self.dist!r}; use {DISTRIBUTIONS}")
        if self.dist in ("loguniform", "uniform"):
            if len(self.args) != 2 or not all(_is_number(a) for a in self.args):
                raise ValueError(f"{where}: {self.dist} takes two numbers (low, high)")
            low, high = self.args
            if not low < high:
                raise ValueError(f"{where}: need low < high")
            if self.dist == "loguniform" and low <= 0:
                raise ValueError(f"{where}: loguniform needs low > 0")
        elif not self.args:
            raise ValueError(f"{where}: {self.dist} needs at least one value")

    def __str__(self) -> str:
        return f"{self.name}={self.dist}({','.join(str(a) for a in self.args)})"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _value(text: str) -> Any:
    text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text.strip("'\"")


def parse_dimension(text: str) -> Dimension:
    """``"lr=loguniform(3e-4,3e-3)"`` -> ``Dimension("lr", "loguniform", (3e-4, 3e-3))``.

    Raises:
        ValueError: the text is not ``name=dist(args)`` or the arguments do not fit ``dist``.
    """
    match = _FLAG.match(text)
    if match is None:
        raise ValueError(
            f"search-space entries look like name=dist(a,b) with dist in {DISTRIBUTIONS}, "
            f"e.g. lr=loguniform(3e-4,3e-3); got {text!r}"
        )
    args = tuple(_value(a) for a in match["args"].split(",")) if match["args"].strip() else ()
    return Dimension(match["name"], match["dist"], args)


def load_space_file(path: str | os.PathLike) -> list[Dimension]:
    """The dimensions in a ``.yaml``/``.yml`` or ``.json`` file (see the module docstring).

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable, not a mapping, or an entry that is not a distribution.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"search-space file not found: {path}")
    text = path.read_text()
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as error:  # yaml.YAMLError, json.JSONDecodeError
        raise ValueError(f"{path}: not readable as {path.suffix[1:] or 'JSON'}: {error}") from None
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path}: expected a mapping of field names to distributions")
    dimensions = []
    for name, spec in data.items():
        if isinstance(spec, str):
            dimensions.append(parse_dimension(f"{name}={spec}"))
        elif isinstance(spec, dict) and len(spec) == 1:
            ((dist, args),) = spec.items()
            args = tuple(args) if isinstance(args, list) else (args,)
            dimensions.append(Dimension(str(name), str(dist), args))
        else:
            raise ValueError(
                f"{path}: {name}: expected 'dist(a, b)' or {{dist: [a, b]}}, got {spec!r}"
            )
    return dimensions


def build_space(flags: list[str], file: str | os.PathLike | None = None) -> list[Dimension]:
    """The sweep's dimensions: those of ``file``, then the ``--space`` flags (a flag replaces a
    file entry of the same name).

    Raises:
        ValueError: no dimension at all, or a malformed one.
    """
    dimensions = {d.name: d for d in (load_space_file(file) if file is not None else [])}
    for flag in flags:
        dimension = parse_dimension(flag)
        dimensions[dimension.name] = dimension
    if not dimensions:
        raise ValueError("nothing to sweep: give --space name=dist(...) or --space-file")
    return list(dimensions.values())


def to_tune(dimensions: list[Dimension]) -> dict[str, Any]:
    """Ray Tune's ``param_space`` for the dimensions."""
    from ray import tune

    makers = {
        "loguniform": lambda args: tune.loguniform(*args),
        "uniform": lambda args: tune.uniform(*args),
        "choice": lambda args: tune.choice(list(args)),
        "grid": lambda args: tune.grid_search(list(args)),
    }
    return {d.name: makers[d.dist](d.args) for d in dimensions}
