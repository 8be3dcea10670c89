"""How a webhook call proves it holds its trigger's secret: an HMAC signature with a timestamp, or
the secret itself as a bearer token.

**HMAC** (``auth_mode="hmac"``, the default). The sender puts the current time in
``X-Workbench-Timestamp`` (unix seconds) and, in ``X-Workbench-Signature``,
``v1=<hex HMAC-SHA256 of f"{timestamp}.{raw body}", keyed with the secret>``::

    timestamp = str(int(time.time()))
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    headers = {"X-Workbench-Timestamp": timestamp, "X-Workbench-Signature": f"v1={mac}"}

The signature header may list several comma-separated signatures (``v1=…,v1=…``); one matching is
enough, and entries of other versions are ignored. The server compares in constant time, refuses a
timestamp more than the tolerance (``WORKBENCH_WEBHOOK_TOLERANCE``, 300 s) from its clock either way,
and refuses a signature it has accepted before (the trigger service remembers them for that window).

**GitHub** (``auth_mode="github"``): GitHub's own scheme, for repository and organization webhooks
(and any sender that signs the same way). ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw
body, keyed with the secret>``, compared in constant time, and ``X-GitHub-Delivery``, the delivery's
id. The scheme has no timestamp: a captured call stays valid, so the trigger service remembers every
accepted delivery id and body (:func:`verify_github` returns a digest of each) and refuses them again.

**Bearer** (``auth_mode="bearer"``): ``Authorization: Bearer <secret>``, compared in constant time. For
senders that can only set a header; it has no replay protection, so prefer HMAC where the sender can
sign.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

from workbench.notify.signature import SCHEME as VERSION
from workbench.notify.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, compute_signature, sign

__all__ = [
    "GITHUB_DELIVERY_HEADER",
    "GITHUB_SIGNATURE_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "SignatureRefused",
    "sign",
    "sign_github",
    "verify_bearer",
    "verify_github",
    "verify_signature",
]

GITHUB_SIGNATURE_HEADER = "X-Hub-Signature-256"
GITHUB_DELIVERY_HEADER = "X-GitHub-Delivery"
MAX_DELIVERY_ID = 200
"""Characters of a delivery id at most (GitHub's are GUIDs, 36)."""

_STAMP = re.compile(r"[0-9]{1,12}")
_HEX = re.compile(r"[0-9a-fA-F]{64}")


class SignatureRefused(Exception):
    """A call's credentials are missing, wrong, expired or replayed; the message says which, and
    never anything about the secret."""


def mac(secret: str, timestamp: str, body: bytes) -> bytes:
    """The HMAC-SHA256 of ``f"{timestamp}.{body}"`` keyed with the secret (the notifier's scheme,
    :mod:`workbench.notify.signature`, so one receiver serves both ways)."""
    return bytes.fromhex(compute_signature(secret, timestamp, body))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def verify_signature(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: float, tolerance: int
) -> tuple[bytes, int]:
    """Check an HMAC-signed call: the signature's digest (what the replay guard remembers) and the
    timestamp; SignatureRefused otherwise."""
    stamp = _header(headers, TIMESTAMP_HEADER)
    given = _header(headers, SIGNATURE_HEADER)
    if not stamp or not given:
        raise SignatureRefused(
            f"a signed call needs the headers {TIMESTAMP_HEADER} (unix seconds) and "
            f"{SIGNATURE_HEADER} (v1=<hex HMAC-SHA256 of '<timestamp>.<body>'>)"
        )
    stamp = stamp.strip()
    if not _STAMP.fullmatch(stamp):
        raise SignatureRefused(f"{TIMESTAMP_HEADER} must be a time in unix seconds")
    expected = mac(secret, stamp, body)
    candidates = []
    for entry in given.split(","):
        version, _, value = entry.strip().partition("=")
        if version == VERSION and _HEX.fullmatch(value):
            candidates.append(bytes.fromhex(value))
    matched = False
    for candidate in candidates:  # every candidate is compared: the time taken says nothing
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureRefused(f"the signature does not match ({SIGNATURE_HEADER}: v1=<hex HMAC-SHA256>)")
    if abs(now - int(stamp)) > tolerance:
        raise SignatureRefused(
            f"{TIMESTAMP_HEADER} is more than {tolerance} s from the server's clock: sign each call when "
            "it is sent"
        )
    return hashlib.sha256(expected).digest(), int(stamp)


def sign_github(secret: str, body: bytes, delivery: str) -> dict[str, str]:
    """The headers GitHub sends with ``body``: its signature and the delivery's id (tests, relays)."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {GITHUB_SIGNATURE_HEADER: f"sha256={digest}", GITHUB_DELIVERY_HEADER: delivery}


def verify_github(secret: str, headers: Mapping[str, str], body: bytes) -> tuple[bytes, bytes]:
    """Check a call signed as GitHub signs: digests of its delivery id and of its body (what the
    replay guard remembers, neither reveals them); SignatureRefused otherwise."""
    given = _header(headers, GITHUB_SIGNATURE_HEADER)
    delivery = (_header(headers, GITHUB_DELIVERY_HEADER) or "").strip()
    if not given or not delivery:
        raise SignatureRefused(
            f"a GitHub-signed call needs the headers {GITHUB_SIGNATURE_HEADER} (sha256=<hex HMAC-SHA256 "
            f"of the body>) and {GITHUB_DELIVERY_HEADER} (the delivery's id)"
        )
    if len(delivery) > MAX_DELIVERY_ID or not delivery.isprintable():
        raise SignatureRefused(
            f"{GITHUB_DELIVERY_HEADER} must be printable text of at most {MAX_DELIVERY_ID} characters"
        )
    expected = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    scheme, _, value = given.strip().partition("=")
    candidate = bytes.fromhex(value) if scheme == "sha256" and _HEX.fullmatch(value) else bytes(32)
    if not hmac.compare_digest(expected, candidate) or scheme != "sha256":
        raise SignatureRefused(
            f"the signature does not match ({GITHUB_SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256 of the body>)"
        )
    delivery_digest = hashlib.sha256(b"github-delivery:" + delivery.encode()).digest()
    body_digest = hashlib.sha256(b"github-body:" + expected).digest()
    return delivery_digest, body_digest


def verify_bearer(secret: str, headers: Mapping[str, str]) -> None:
    """Check a bearer call: ``Authorization: Bearer <secret>``; SignatureRefused otherwise."""
    header = (_header(headers, "authorization") or "").strip()
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), secret.encode()):
        raise SignatureRefused(
            "this trigger takes Authorization: Bearer <its secret>; none or another was given"
        )
