"""Generated sections of the README and the documentation pages: text between two marker
comments, rewritten from files.

Used by ``zoo_table.py``, ``zoo_float16.py``, ``speed_table.py``, ``comparison.py`` and
``preset_table.py`` (sibling scripts import it as ``readme_section``).
"""

from __future__ import annotations

from pathlib import Path


def replace_section(readme: str, start: str, end: str, body: str) -> str:
    """``readme`` with the text between the markers ``start`` and ``end`` replaced by ``body``."""
    if start not in readme or end not in readme:
        raise ValueError(f"the page lacks the markers {start!r} ... {end!r}")
    head, rest = readme.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}{end}{tail}"


def write_or_check(
    readme: Path, start: str, end: str, body: str, what: str, script: str, check: bool
) -> int:
    """Write ``body`` into ``readme`` between the markers, or with ``check`` only compare.

    Returns the exit status: 1 when checking finds the README stale, else 0.
    """
    text = readme.read_text()
    updated = replace_section(text, start, end, body)
    if check:
        if updated != text:
            print(f"{readme}: the {what} is stale; run {script}")
            return 1
        return 0
    readme.write_text(updated)
    print(f"wrote the {what} into {readme}")
    return 0
