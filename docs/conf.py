"""Sphinx configuration of depbot's documentation (built by ``python3 dev.py docs``)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent / "_ext")]

from depbot import __version__  # noqa: E402

project = "depbot"
author = "the depbot authors"
copyright = "the depbot authors"
release = __version__
version = __version__

extensions = [
    "sphinx.ext.autodoc",  # autoapi renders its pages through autodoc's directives
    "sphinx.ext.intersphinx",
    "autoapi.extension",
    "sphinxarg.ext",
    "depbot_docs",
]

html_theme = "furo"
html_title = f"depbot {release}"
exclude_patterns = ["_build"]

autoapi_type = "python"
autoapi_dirs = [str(ROOT / "depbot")]
autoapi_root = "api"
autoapi_add_toctree_entry = True  # the API reference joins the index
autoapi_options = ["members", "show-inheritance", "show-module-summary"]
autoapi_ignore = ["*/demo/*"]
autoapi_keep_files = False
# autoapi cannot resolve every re-exported name's target; those are not errors in the docs
suppress_warnings = ["autoapi.python_import_resolution"]

intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
