"""Sphinx configuration of the glimpse-env documentation site (``sphinx-build -W docs
docs/_build/html``).

Sphinx with the furo theme and MyST Markdown, as Gymnasium's site: the pages are Markdown, the
API reference comes from the docstrings, which use Sphinx's roles (``:class:``, ``:func:``) and
Google-style sections (napoleon) throughout the code.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

project = "glimpse-env"
author = "glimpse-env developers"
copyright = "2026, glimpse-env developers"
release = "0.1.0"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

html_theme = "furo"
html_title = "glimpse-env"
html_static_path: list[str] = []

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
#: TrainConfig documents its fields in these groups.
napoleon_custom_sections = [
    (name, "params_style") for name in ("Task", "Model", "Loss", "Optimisation", "Run")
]
autodoc_inherit_docstrings = False  # Gymnasium's own docstrings are not ours to render
# Docstrings name classes and functions of other libraries; unresolved names are not errors.
nitpicky = False
suppress_warnings = ["myst.header"]
