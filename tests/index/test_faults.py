"""Index faults through the fault-injecting proxy: each kind is reported for what it is, retried
as it deserves, and one page never costs more than its deadline (SPEC §9, issue 11)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from depbot.index.http import make_session
from depbot.index.interface import IndexLookupError
from depbot.index.simple import SimpleIndex
from depbot.models import canonicalize_name
from tests.support.fault_proxy import FAULT_KINDS, FaultProxy, fault_proxy
from tests.support.index_server import serve_index
from tests.support.wheels import Dist

ALPHA = canonicalize_name("alpha")
# fault kind → what the reason must say, and how many requests the page may cost when the
# fault persists (5 attempts for what may pass, 2 readings of a malformed page)
EXPECTED = {
    "500": (r"answered HTTP 500 \(5 attempts in [\d.]+ s", 5),
    "503": (r"answered HTTP 503 \(5 attempts in [\d.]+ s", 5),
    "garbage-html": (r"malformed page at .* \(read twice\): not a PEP 503 project page", 2),
    "garbage-json": (r"malformed page at .* \(read twice\): not a PEP 691 project page", 2),
    "truncated": (r"sent a truncated body \(IncompleteRead.*\) \(5 attempts", 5),
    "hang": (r"timed out \(\d attempts in [\d.]+ s; index-timeout is 1.5 s\)", 5),
}


@pytest.fixture(params=[True, False], ids=["json", "html"])
def proxy(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FaultProxy]:
    with (
        serve_index(tmp_path / "index", [Dist("alpha", "1.0"), Dist("alpha", "1.1")]) as index,
        fault_proxy(index) as proxy,
    ):
        index.json_pages = request.param
        yield proxy


def simple(proxy: FaultProxy, deadline: float = 1.5) -> SimpleIndex:
    return SimpleIndex(
        proxy.url, make_session(), deadline=deadline, backoff=0.01, request_timeout=0.5
    )


def test_every_fault_kind_is_covered() -> None:
    assert set(EXPECTED) == set(FAULT_KINDS)


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_a_persistent_fault_is_reported_for_what_it_is(proxy: FaultProxy, kind: str) -> None:
    proxy.fault("alpha", kind)
    with pytest.raises(IndexLookupError, match=EXPECTED[kind][0]) as raised:
        simple(proxy).releases(ALPHA)
    assert "not found" not in str(raised.value)
    assert 2 <= proxy.page_hits("alpha") <= EXPECTED[kind][1]


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_a_passing_fault_is_retried_and_the_page_read(proxy: FaultProxy, kind: str) -> None:
    proxy.fault("alpha", kind, times=1)
    versions = [str(r.version) for r in simple(proxy).releases(ALPHA)]
    assert versions == ["1.0", "1.1"]
    assert (proxy.page_hits("alpha"), proxy.faulted["/simple/alpha/"]) == (2, 1)


def test_503_twice_then_the_page(proxy: FaultProxy) -> None:
    proxy.fault("alpha", "503", times=2)
    assert len(simple(proxy).releases(ALPHA)) == 2
    assert proxy.page_hits("alpha") == 3


def test_one_deadline_bounds_every_attempt_at_a_hanging_page(proxy: FaultProxy) -> None:
    proxy.fault("alpha", "hang")
    index = SimpleIndex(proxy.url, make_session(), deadline=2.0, backoff=0.01, request_timeout=0.8)
    started = time.monotonic()
    with pytest.raises(IndexLookupError, match="timed out"):
        index.releases(ALPHA)
    # generous: the deadline plus slack for a loaded machine (measured: benchmarks/faults.py)
    assert time.monotonic() - started < 2.0 + 3.0
    assert proxy.page_hits("alpha") == 3  # 0.8 s, 0.8 s, then what is left of the 2 s


def test_the_attempts_are_few_when_the_deadline_is_far(proxy: FaultProxy) -> None:
    proxy.fault("alpha", "500")
    with pytest.raises(IndexLookupError, match=r"\(2 attempts"):
        SimpleIndex(proxy.url, make_session(), attempts=2, backoff=0).releases(ALPHA)
    assert proxy.page_hits("alpha") == 2


def test_a_fault_for_another_client_is_not_met(proxy: FaultProxy) -> None:
    proxy.fault("alpha", "500", agent="pip/")  # pip's lookups only: depbot's go through
    assert len(simple(proxy).releases(ALPHA)) == 2
    assert proxy.faulted["/simple/alpha/"] == 0


def test_an_empty_project_page_is_not_malformed(proxy: FaultProxy) -> None:
    page = b"<!DOCTYPE html><html><head><title>Links for alpha</title></head><body></body></html>"
    proxy.upstream.overrides["alpha"] = ("text/html", page)
    assert simple(proxy).releases(ALPHA) == ()
    assert proxy.page_hits("alpha") == 1
