"""``depbot.config.KEYS`` is the single source of the configuration keys: the reader checks
against it, the parser takes exactly its keys, and the docs render it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from depbot import config
from depbot.config import KEYS, load_config
from depbot.errors import InputError
from depbot.tables import TableReader

ROOT = Path(__file__).resolve().parent.parent


def keys_parse_takes(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Every key ``_parse`` asks its reader for, ``ml.*`` included (``take`` is called for each
    key whether or not the table has it)."""
    taken: set[str] = set()
    original = TableReader.take

    def take(self: TableReader, key: str, *args: Any) -> Any:
        taken.add(f"{self.prefix}{key}")
        return original(self, key, *args)

    monkeypatch.setattr(TableReader, "take", take)
    config._parse(Path("depbot.toml"), {"ml": {}}, config.PYPI_SIMPLE, ())
    return taken


def test_parse_takes_exactly_the_keys_of_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    table = [spec.key for spec in KEYS]
    assert len(table) == len(set(table)), "a key is listed twice"
    assert keys_parse_takes(monkeypatch) == set(table)


def test_every_key_has_type_default_and_description() -> None:
    for spec in KEYS:
        assert spec.type and spec.default and spec.description.endswith("."), spec


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[tool.depbot]\ntest-comand = 'pytest'\n", "test-comand"),
        ("[tool.depbot]\nzzz = 1\naaa = 2\n", "aaa"),
        ("[tool.depbot.ml]\nindex_url = 'https://x.invalid/whl/cu121'\n", "ml.index_url"),
    ],
)
def test_a_key_missing_from_the_table_is_unknown(tmp_path: Path, text: str, key: str) -> None:
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(InputError, match=f"unknown key '{key}'"):
        load_config(tmp_path, {"PIP_CONFIG_FILE": "/dev/null"})


def test_unknown_key_is_reported_before_a_bad_value(tmp_path: Path) -> None:
    (tmp_path / "depbot.toml").write_text("max-test-runs = 0\nbogus = true\n")
    with pytest.raises(InputError, match="unknown key 'bogus'"):
        load_config(tmp_path, {"PIP_CONFIG_FILE": "/dev/null"})


def test_the_configuration_page_renders_the_table() -> None:
    pytest.importorskip("sphinx", reason="the docs tools (constraints/docs.txt)")
    import sys

    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    try:
        import depbot_docs
    finally:
        sys.path.remove(str(ROOT / "docs" / "_ext"))
    rows = "\n".join(depbot_docs.config_keys_rst())
    for spec in KEYS:
        assert f"``{spec.key}``" in rows
        assert spec.description in rows
    page = (ROOT / "docs" / "configuration.rst").read_text(encoding="utf-8")
    assert ".. depbot-config-keys::" in page


def test_the_built_configuration_page_lists_every_key() -> None:
    """After ``python3 dev.py docs`` (which ``dev.py test`` runs before pytest)."""
    built = ROOT / "docs" / "_build" / "html" / "configuration.html"
    if not built.is_file():
        pytest.skip("the docs are not built (python3 dev.py docs)")
    html = built.read_text(encoding="utf-8")
    for spec in KEYS:
        assert f'<span class="pre">{spec.key}</span>' in html, spec.key
