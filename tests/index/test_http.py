"""The index session: retries, the last answer when they run out, the default timeout."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from depbot.index.http import make_session
from tests.support.index_server import IndexServer, serve_index
from tests.support.wheels import Dist

PAGE = "alpha/"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[IndexServer]:
    with serve_index(tmp_path / "index", [Dist("alpha", "1.0")]) as s:
        yield s


def test_server_errors_are_retried(server: IndexServer) -> None:
    server.failures["alpha"] = 3
    response = make_session(retries=3, backoff=0.01).get(server.url + PAGE)
    assert response.status_code == 200
    assert server.hits["/simple/alpha/"] == 4


def test_the_last_error_is_returned_when_retries_run_out(server: IndexServer) -> None:
    server.failures["alpha"] = 10
    response = make_session(retries=2, backoff=0.01).get(server.url + PAGE)
    assert response.status_code == 503
    assert server.hits["/simple/alpha/"] == 3


def test_requests_get_the_default_timeout(server: IndexServer) -> None:
    server.latency = 0.3
    with pytest.raises(requests.exceptions.ConnectionError):
        make_session(retries=0, timeout=0.05).get(server.url + PAGE)


def test_an_explicit_timeout_wins(server: IndexServer) -> None:
    server.latency = 0.2
    session = make_session(retries=0, timeout=0.05)
    assert session.get(server.url + PAGE, timeout=5).status_code == 200
