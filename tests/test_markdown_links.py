"""Every relative link in the repository's Markdown leads somewhere.

The Sphinx build (``tests/test_docs_site.py``) checks the pages under ``docs/``; this checks the
files a reader opens on GitHub: the README, the changelog, ``results/`` (the generated tables and
the hand-written notes, whose per-row index links to their own headings) and the benchmarks'
READMEs. A link is ``[text](target)``; a target with a scheme (``https:``) is not followed, a
file must exist, and an anchor (``#...``) must be the GitHub id of a heading in the file it names.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (.+?)\s*$", re.MULTILINE)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


@cache
def heading_ids(path: Path) -> frozenset[str]:
    """GitHub's ids of the headings of ``path``: lower case, punctuation dropped, spaces as
    hyphens (read once per file, however many links point into it)."""
    headings = HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8")))
    return frozenset(
        re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings
    )


def broken_links(path: Path) -> list[str]:
    """The relative links in ``path`` whose file or heading does not exist."""
    broken = []
    for target in LINK.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        if re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", target):
            continue
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / file_part) if file_part else path
        if not destination.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and destination.suffix == ".md":
            if anchor not in heading_ids(destination.resolve()):
                broken.append(f"{target} (no such heading)")
    return broken


def _markdown_files() -> list[Path]:
    files = [REPO / "README.md", REPO / "CHANGELOG.md"]
    for folder in ("results", "benchmarks", "models"):
        files += sorted((REPO / folder).rglob("*.md"))
    return [path for path in files if path.is_file()]


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda path: str(path.relative_to(REPO)))
def test_every_relative_link_leads_somewhere(path):
    assert broken_links(path) == []


def test_a_missing_file_or_heading_is_reported(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## A section, with `code`\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Notes\n\n## The 100x100 rows\n\n"
        "[ok](#the-100x100-rows) [ok](other.md#a-section-with-code) [web](https://example.org)\n"
        "[gone](#the-60x60-rows) [gone](missing.md) [gone](other.md#nothing)\n"
        "```\n[in a code block](#not-a-link)\n```\n"
    )
    assert broken_links(page) == [
        "#the-60x60-rows (no such heading)",
        "missing.md (no such file)",
        "other.md#nothing (no such heading)",
    ]
