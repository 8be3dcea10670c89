"""The signature of webhook bodies: HMAC-SHA256 over ``f"{timestamp}.{body}"``.

A signed request carries two headers::

    X-Workbench-Timestamp: 1718000000                 (Unix seconds, when it was signed)
    X-Workbench-Signature: v1=<hex HMAC-SHA256 of "1718000000." + body, keyed with the secret>

The timestamp is inside the signed text, so a receiver that refuses old timestamps (five minutes by
default) also refuses a recorded request sent again later. ``v1=`` names the scheme; a header may
carry several signatures separated by commas (while a secret is being replaced), and one match is
enough. The body is the exact bytes sent (UTF-8 JSON); a receiver must verify them before parsing.

It is the scheme our incoming webhook triggers check (``POST /api/v1/hooks/{id}``,
:mod:`workbench.services.trigger_signing`), so one receiver can serve both ways.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

TIMESTAMP_HEADER = "X-Workbench-Timestamp"
SIGNATURE_HEADER = "X-Workbench-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE = 300.0
"""Seconds a timestamp may be away from the receiver's clock."""
_STAMP = re.compile(r"[0-9]{1,12}")


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def compute_signature(secret: str | bytes, timestamp: int | str, body: str | bytes) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}.{body}"`` keyed with ``secret``."""
    signed = f"{timestamp}.".encode() + _as_bytes(body)
    return hmac.new(_as_bytes(secret), signed, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: str | bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """The two signature headers for ``body``, signed now (or at ``timestamp``)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: f"{SCHEME}={compute_signature(secret, ts, body)}",
    }


def verify_signature(
    secret: str | bytes,
    timestamp: str | int | None,
    body: str | bytes,
    header: str | None,
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    now: float | None = None,
) -> bool:
    """Whether ``header`` (``X-Workbench-Signature``) signs ``body`` at ``timestamp``
    (``X-Workbench-Timestamp``) with ``secret``, and the timestamp is within ``tolerance`` seconds of
    ``now`` (default: the clock). Comparisons take constant time."""
    stamp = str(timestamp).strip() if timestamp is not None else ""
    if not header or not _STAMP.fullmatch(stamp):
        return False
    ts = int(stamp)
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance:
        return False
    expected = compute_signature(secret, ts, body)
    found = False
    for part in header.split(","):
        scheme, _, value = part.strip().partition("=")
        if scheme == SCHEME and hmac.compare_digest(value.strip().lower().encode(), expected.encode()):
            found = True  # keep comparing: the time taken does not say which one matched
    return found
