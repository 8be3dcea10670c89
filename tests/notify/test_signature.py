"""The webhook signature: HMAC-SHA256 over f"{timestamp}.{body}", checked by verify_signature."""

from __future__ import annotations

import hashlib
import hmac

from workbench.notify.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify_signature

SECRET = "whsec_test"
BODY = b'{"event":"run_failed","text":"caf\xc3\xa9"}'
NOW = 1_718_000_000


def test_the_scheme_is_hmac_sha256_over_timestamp_dot_body() -> None:
    headers = sign(SECRET, BODY, timestamp=NOW)
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert headers == {TIMESTAMP_HEADER: str(NOW), SIGNATURE_HEADER: f"v1={expected}"}


def test_verify_accepts_the_signature_within_the_tolerance() -> None:
    headers = sign(SECRET, BODY, timestamp=NOW)
    args = (SECRET, headers[TIMESTAMP_HEADER], BODY, headers[SIGNATURE_HEADER])
    assert verify_signature(*args, now=NOW)
    assert verify_signature(*args, now=NOW + 299)
    assert verify_signature(SECRET, NOW, BODY.decode(), headers[SIGNATURE_HEADER], now=NOW)  # str body
    assert not verify_signature(*args, now=NOW + 301)  # replayed later
    assert not verify_signature(*args, tolerance=10, now=NOW - 11)  # from the future


def test_verify_refuses_anything_else() -> None:
    headers = sign(SECRET, BODY, timestamp=NOW)
    sig, ts = headers[SIGNATURE_HEADER], headers[TIMESTAMP_HEADER]
    assert not verify_signature("other-secret", ts, BODY, sig, now=NOW)
    assert not verify_signature(SECRET, ts, BODY + b" ", sig, now=NOW)
    assert not verify_signature(SECRET, str(NOW + 1), BODY, sig, now=NOW)  # the timestamp is signed
    assert not verify_signature(SECRET, ts, BODY, sig.replace("v1=", "v0="), now=NOW)
    for header in (None, "", "v1=", "v1=zz", "v1=é", "garbage"):
        assert not verify_signature(SECRET, ts, BODY, header, now=NOW)
    for timestamp in (None, "", "soon", "+1718000000", "1_718_000_000", "-5"):
        assert not verify_signature(SECRET, timestamp, BODY, sig, now=NOW)


def test_one_matching_signature_of_several_is_enough() -> None:
    current = sign(SECRET, BODY, timestamp=NOW)[SIGNATURE_HEADER]
    previous = sign("old-secret", BODY, timestamp=NOW)[SIGNATURE_HEADER]
    assert verify_signature(SECRET, NOW, BODY, f"{previous}, {current}", now=NOW)
    assert verify_signature("old-secret", NOW, BODY, f"{previous},{current}", now=NOW)


def test_incoming_triggers_verify_what_the_notifier_signs() -> None:
    from workbench.services import trigger_signing as triggers

    body = b'{"inputs": {"x": 1}}'
    ours = sign(SECRET, body, timestamp=NOW)
    assert triggers.sign(SECRET, body, timestamp=NOW) == ours
    triggers.verify_signature(SECRET, ours, body, now=NOW, tolerance=300)  # raises when refused
    theirs = triggers.sign(SECRET, body, timestamp=NOW)
    assert verify_signature(SECRET, theirs[TIMESTAMP_HEADER], body, theirs[SIGNATURE_HEADER], now=NOW)
