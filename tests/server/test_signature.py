"""The webhook signature: HMAC-SHA256 of the raw body, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from depbot.server.signature import sign, verify

SECRET = b"it is a secret to everybody"


def test_the_signature_is_githubs_header_value() -> None:
    body = b'{"zen": "Design for failure."}'
    expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    assert sign(SECRET, body) == expected
    assert verify(SECRET, body, expected)


def test_a_wrong_missing_or_foreign_signature_does_not_verify() -> None:
    body = b"{}"
    good = sign(SECRET, body)
    assert not verify(SECRET, body + b" ", good)  # other bytes than signed
    assert not verify(b"another secret", body, good)
    assert not verify(SECRET, body, None)
    assert not verify(SECRET, body, "")
    assert not verify(SECRET, body, good.replace("sha256=", "sha1="))
    assert not verify(SECRET, body, good.upper())
    assert not verify(SECRET, body, "sha256=ü" + good[8:])


@given(st.binary(max_size=256), st.binary(max_size=256))
def test_only_the_signed_bytes_verify(body: bytes, other: bytes) -> None:
    assert verify(SECRET, body, sign(SECRET, body))
    assert verify(SECRET, other, sign(SECRET, body)) == (other == body)
