"""The index session: retries, the default timeout, and the on-disk cache across runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from urllib3 import HTTPResponse

from depbot.index.http import MinimumFreshness, make_session
from tests.support.index_server import IndexServer, serve_index
from tests.support.wheels import Dist

PAGE = "alpha/"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[IndexServer]:
    with serve_index(tmp_path / "index", [Dist("alpha", "1.0")]) as s:
        yield s


def get(session: requests.Session, server: IndexServer) -> requests.Response:
    response = session.get(server.url + PAGE)
    response.raise_for_status()
    return response


def test_a_second_run_after_the_freshness_window_sends_conditional_requests(
    server: IndexServer, tmp_path: Path
) -> None:
    first = get(make_session(tmp_path / "cache", freshness=0), server)
    second = get(make_session(tmp_path / "cache", freshness=0), server)
    assert server.hits["/simple/alpha/"] == 2
    assert server.not_modified == 1
    assert second.from_cache  # type: ignore[attr-defined]
    assert second.content == first.content


def test_a_second_run_within_the_freshness_window_sends_nothing(
    server: IndexServer, tmp_path: Path
) -> None:
    first = get(make_session(tmp_path / "cache", freshness=600), server)
    second = get(make_session(tmp_path / "cache", freshness=600), server)
    assert server.hits["/simple/alpha/"] == 1
    assert second.content == first.content


def test_without_a_cache_dir_every_run_downloads(server: IndexServer) -> None:
    get(make_session(None), server)
    get(make_session(None), server)
    assert server.hits["/simple/alpha/"] == 2
    assert server.not_modified == 0


def test_server_errors_are_retried(server: IndexServer) -> None:
    server.failures["alpha"] = 3
    get(make_session(None, retries=3, backoff=0.01), server)
    assert server.hits["/simple/alpha/"] == 4


def test_the_last_error_is_returned_when_retries_run_out(server: IndexServer) -> None:
    server.failures["alpha"] = 10
    response = make_session(None, retries=2, backoff=0.01).get(server.url + PAGE)
    assert response.status_code == 503
    assert server.hits["/simple/alpha/"] == 3


def test_requests_get_the_default_timeout(server: IndexServer) -> None:
    server.latency = 0.3
    with pytest.raises(requests.exceptions.ConnectionError):
        make_session(None, retries=0, timeout=0.05).get(server.url + PAGE)


def response(cache_control: str | None, status: int = 200) -> HTTPResponse:
    headers = {"Cache-Control": cache_control} if cache_control is not None else {}
    return HTTPResponse(body=b"", headers=headers, status=status)


@pytest.mark.parametrize(
    ("cache_control", "status", "expected"),
    [
        (None, 200, "max-age=600"),
        ("max-age=0", 200, "max-age=600"),
        ("public, max-age=60", 200, "public, max-age=600"),
        ("max-age=3600", 200, "max-age=3600"),
        ("no-store", 200, "no-store"),
        ("no-cache", 200, "no-cache"),
        ("max-age=0", 304, "max-age=600"),
        ("max-age=0", 404, "max-age=0"),
    ],
)
def test_minimum_freshness_only_extends_what_the_server_allows(
    cache_control: str | None, status: int, expected: str
) -> None:
    r = MinimumFreshness(600).apply(response(cache_control, status))
    assert r.headers["Cache-Control"] == expected
    assert "Warning" not in r.headers


def test_zero_freshness_changes_nothing() -> None:
    assert MinimumFreshness(0).apply(response("max-age=0")).headers["Cache-Control"] == "max-age=0"
