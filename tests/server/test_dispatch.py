"""The one GitHub call of ``serve --dispatch``, through PyGithub, against a fake GitHub."""

from __future__ import annotations

import socket

import pytest

from depbot.server.dispatch import EVENT_TYPE, DispatchError, send_dispatch
from tests.support.serve import FakeGitHub

TOKEN = "ghs_faketoken0123456789"
PAYLOAD = {"packages": ["requests"], "advisory_id": "GHSA-9wx4-h78v-vm56", "delivery_id": "d-1"}


def test_an_accepted_dispatch_posts_the_event_type_and_payload_with_the_token() -> None:
    with FakeGitHub() as github:
        send_dispatch("octo-lab/vision-kit", PAYLOAD, token=TOKEN, api_url=github.url)
        assert github.accepted == [
            {
                "path": "/repos/octo-lab/vision-kit/dispatches",
                "event_type": EVENT_TYPE,
                "client_payload": PAYLOAD,
            }
        ]
        _, _, headers = github.requests[0]
        assert headers["Authorization"] == f"token {TOKEN}"


@pytest.mark.parametrize(
    ("status", "transient"),
    [(502, True), (500, True), (429, True), (404, False), (403, False), (422, False)],
)
def test_a_refusal_says_whether_a_retry_can_help(status: int, transient: bool) -> None:
    with FakeGitHub(script=[status]) as github:
        with pytest.raises(DispatchError) as caught:
            send_dispatch("octo-lab/vision-kit", PAYLOAD, token=TOKEN, api_url=github.url)
        assert caught.value.transient is transient
        assert f"answered {status}" in str(caught.value)
        assert TOKEN not in str(caught.value)
        assert github.accepted == []
    if status == 429:
        assert caught.value.retry_after == 0.0


def test_an_unreachable_github_is_transient() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with pytest.raises(DispatchError) as caught:
        send_dispatch("o/r", PAYLOAD, token=TOKEN, api_url=f"http://127.0.0.1:{port}", timeout=5)
    assert caught.value.transient
    assert "unreachable" in str(caught.value)


def test_a_rate_limited_403_is_transient() -> None:
    limited = {403: {"X-RateLimit-Remaining": "0"}}
    with (
        FakeGitHub(script=[403], headers=limited) as github,
        pytest.raises(DispatchError) as caught,
    ):
        send_dispatch("o/r", PAYLOAD, token=TOKEN, api_url=github.url)
    assert caught.value.transient
