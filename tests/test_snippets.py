"""Every Python snippet of the README and of the docs pages runs as written.

The blocks of one page run in order in one namespace (a later block may use what an earlier one
made), in a scratch directory holding ``photos/``: a folder of class folders, as the pages'
``from_folder("photos/")`` expects. Data come from the configured MNIST directory.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text())


@pytest.fixture
def scratch(tmp_path, monkeypatch) -> Path:
    rng = np.random.default_rng(0)
    for name in ("circles", "squares"):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i in range(10):
            pixels = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "photos" / name / f"{i}.png")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    "page", [p for p in PAGES if _blocks(p)], ids=lambda p: str(p.relative_to(REPO))
)
def test_the_pages_python_snippets_run_as_written(page, scratch):
    namespace: dict = {"__name__": "__snippet__"}
    for index, block in enumerate(_blocks(page)):
        try:
            exec(compile(block, f"{page.name}[{index}]", "exec"), namespace)
        except Exception as error:
            pytest.fail(f"{page.name}, Python block {index + 1}: {type(error).__name__}: {error}")


def test_every_page_with_snippets_is_collected():
    assert {p.name for p in PAGES if _blocks(p)} >= {"README.md", "own-images.md", "zoo.md"}
