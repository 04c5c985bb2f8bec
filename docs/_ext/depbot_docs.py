"""Sphinx directives that generate pages from depbot's own code (a second copy would drift).

``.. depbot-config-keys::`` renders ``depbot.config.KEYS``, the table the configuration reader
itself checks keys against.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from depbot.config import KEYS


def config_keys_rst() -> list[str]:
    """The configuration reference as reStructuredText: one list-table row per key."""
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 20 20 20 40",
        "",
        "   * - key",
        "     - type",
        "     - default",
        "     - meaning",
    ]
    for spec in KEYS:
        lines += [
            f"   * - ``{spec.key}``",
            f"     - {spec.type}",
            f"     - ``{spec.default}``" if _literal(spec.default) else f"     - {spec.default}",
            f"     - {spec.description}",
        ]
    return lines


def _literal(default: str) -> bool:
    return default[:1] in '"[{' or default in ("true", "false") or default.isdigit()


class ConfigKeys(SphinxDirective):
    has_content = False

    def run(self) -> list[nodes.Node]:
        container = nodes.container()
        self.state.nested_parse(StringList(config_keys_rst(), "depbot.config.KEYS"), 0, container)
        return list(container.children)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("depbot-config-keys", ConfigKeys)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
