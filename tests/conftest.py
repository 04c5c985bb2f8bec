"""Shared fixtures: a pip environment that ignores this machine's pip configuration."""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--online", action="store_true", help="run tests that need the real PyPI")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    online = config.getoption("--online") or os.environ.get("DEPBOT_ONLINE") == "1"
    skip_online = pytest.mark.skip(reason="needs the real PyPI: pass --online or DEPBOT_ONLINE=1")
    # the full kill -9 sweep takes about a quarter of an hour
    kills = os.environ.get("DEPBOT_KILLS") == "1"
    skip_kills = pytest.mark.skip(reason="the full kill sweep: set DEPBOT_KILLS=1")
    for item in items:
        if "online" in item.keywords and not online:
            item.add_marker(skip_online)
        if "kills" in item.keywords and not kills:
            item.add_marker(skip_kills)


def clean_env(index_url: str | None = None, **extra: str) -> dict[str, str]:
    """The process environment without PIP_* settings, pip's config files disabled."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    if index_url:
        env["PIP_INDEX_URL"] = index_url
    env.update(extra)
    return env


@pytest.fixture
def pip_env() -> dict[str, str]:
    return clean_env()
