"""A local Google lookalike for the Google blocks: the OAuth 2.0 token endpoint (refresh grant) and the
Calendar API v3 event listing; real HTTP on 127.0.0.1 (Litestar), state in memory.

* ``POST /token`` (form): ``grant_type=refresh_token`` with ``refresh_token``, ``client_id`` and
  ``client_secret`` (or HTTP Basic client authentication). An unknown client or wrong secret is 401
  ``invalid_client``; a refresh token that is unknown, revoked or another client's is 400
  ``invalid_grant``; otherwise a new Bearer access token valid for ``expires_in`` seconds.
* ``GET /calendar/v3/calendars/{calendarId}/events``: ``Authorization: Bearer`` of a live access token
  (none: 401 "missing required authentication credential"; unknown or expired: 401 "invalid
  authentication credentials", with ``WWW-Authenticate``); the calendar must be the token owner's
  (``primary`` is their own; else 404 notFound). ``timeMin``/``timeMax`` must be RFC 3339 times with
  an offset and ``timeMax`` after ``timeMin``, ``maxResults`` 1..2500, ``orderBy=startTime`` needs
  ``singleEvents=true`` (400 otherwise, with Google's messages). Events overlapping the range, not
  cancelled (unless ``showDeleted``), not hidden invitations (unless ``showHiddenInvitations``),
  matching ``q`` (case-insensitive, in summary, description, location and attendees), sorted by start,
  ``maxResults`` per page with an opaque ``nextPageToken`` (a token is tied to its query).

:meth:`GoogleServer.fail` queues error answers (429, 403 rateLimitExceeded, 500, 503) in Google's JSON
shape; :attr:`GoogleServer.requests` records every request.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import secrets
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from litestar import Litestar, Request, Response, get, post

from tests.support.lookalike import ServedApp

READONLY = "https://www.googleapis.com/auth/calendar.readonly"
_UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
    "valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_MISSING = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie "
    "or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)


@dataclass
class Recorded:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str]


def api_error(status: int, message: str, reason: str, state: str, domain: str = "global") -> Response:
    """An error answer in the shape of Google's JSON APIs."""
    error = {
        "code": status,
        "message": message,
        "errors": [{"message": message, "domain": domain, "reason": reason}],
        "status": state,
    }
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
    return Response({"error": error}, status_code=status, headers=headers)


def _bad(message: str, reason: str = "invalid") -> Response:
    return api_error(400, message, reason, "INVALID_ARGUMENT")


def oauth_error(status: int, error: str, description: str) -> Response:
    """An error answer of the token endpoint (RFC 6749 5.2)."""
    return Response({"error": error, "error_description": description}, status_code=status)


_FAILURES = {
    429: ("Rate Limit Exceeded", "rateLimitExceeded", "RESOURCE_EXHAUSTED", "usageLimits"),
    403: ("Rate Limit Exceeded", "rateLimitExceeded", "PERMISSION_DENIED", "usageLimits"),
    500: ("Internal error encountered.", "backendError", "INTERNAL", "global"),
    503: ("The service is currently unavailable.", "backendError", "UNAVAILABLE", "global"),
}


def _rfc3339(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _when(value: datetime | date) -> dict[str, str]:
    """An event's start or end: ``{"date"}`` for a day, ``{"dateTime", "timeZone"}`` for a time."""
    if isinstance(value, datetime):
        return {"dateTime": value.isoformat(), "timeZone": "Europe/Paris"}
    return {"date": value.isoformat()}


def _start_of(event: dict[str, Any], key: str) -> datetime:
    value = event[key]
    if "date" in value:
        return datetime.fromisoformat(value["date"]).replace(tzinfo=UTC)
    return datetime.fromisoformat(value["dateTime"].replace("Z", "+00:00"))


class GoogleServer(ServedApp):
    """The lookalike; ``start()`` it, point the token URL at :attr:`token_url` and the API root at
    :attr:`url`."""

    def __init__(self, token_lifetime: int = 3599) -> None:
        self.token_lifetime = token_lifetime
        self.clients: dict[str, str] = {}
        self.refresh_tokens: dict[str, tuple[str, str]] = {}
        """refresh token -> (client id, user email)."""
        self.access_tokens: dict[str, tuple[str, float]] = {}
        """access token -> (user email, expiry in Unix seconds)."""
        self.calendars: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.requests: list[Recorded] = []
        self._failures: deque[tuple[str, int]] = deque()
        self._pages: dict[str, tuple[str, int]] = {}
        self._ids = itertools.count(1)

    @property
    def token_url(self) -> str:
        """The token endpoint."""
        return f"{self.url}/token"

    # ---- setup ---------------------------------------------------------------------------------

    def add_client(self) -> tuple[str, str]:
        """A new OAuth client: (client id, client secret)."""
        client_id = f"{secrets.randbelow(10**12)}-{secrets.token_hex(8)}.apps.googleusercontent.com"
        self.clients[client_id] = "GOCSPX-" + secrets.token_urlsafe(21)
        return client_id, self.clients[client_id]

    def add_user(self, email: str, client_id: str) -> tuple[str, str]:
        """A user who authorized ``client_id``: (a live access token, a refresh token)."""
        refresh = "1//0" + secrets.token_urlsafe(40)
        self.refresh_tokens[refresh] = (client_id, email)
        return self.issue(email), refresh

    def issue(self, email: str, lifetime: float | None = None) -> str:
        """A new access token of ``email``."""
        token = "ya29." + secrets.token_urlsafe(60)
        self.access_tokens[token] = (email, time.time() + (lifetime or self.token_lifetime))
        return token

    def expire(self, token: str) -> None:
        """Make an access token expired."""
        email, _ = self.access_tokens[token]
        self.access_tokens[token] = (email, time.time() - 1)

    def add_event(
        self,
        owner: str,
        summary: str,
        start: datetime | date,
        end: datetime | date,
        *,
        calendar: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """An event in ``owner``'s calendar (``primary``, or ``calendar``) with Google's fields;
        ``extra`` adds or overrides fields (``attendees``, ``status``, ``_hidden`` for a hidden invitation)."""
        number = next(self._ids)
        event_id = f"{secrets.token_hex(4)}evt{number:04d}"
        eid = base64.urlsafe_b64encode(f"{event_id} {owner}".encode()).decode().rstrip("=")
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        event: dict[str, Any] = {
            "kind": "calendar#event",
            "etag": f'"{3400000000000000 + number}"',
            "id": event_id,
            "status": "confirmed",
            "htmlLink": f"https://www.google.com/calendar/event?eid={eid}",
            "created": now,
            "updated": now,
            "summary": summary,
            "creator": {"email": owner, "self": True},
            "organizer": {"email": owner, "self": True},
            "start": _when(start),
            "end": _when(end),
            "iCalUID": f"{event_id}@google.com",
            "sequence": 0,
            "reminders": {"useDefault": True},
            "eventType": "default",
            **extra,
        }
        self.calendars.setdefault((owner, calendar or owner), []).append(event)
        return event

    def fail(self, path: str, status: int, times: int = 1) -> None:
        """Answer the next ``times`` requests whose path starts with ``path`` with ``status``
        (429, 403 rateLimitExceeded, 500 or 503, in Google's error shape)."""
        self._failures.extend([(path, status)] * times)

    def api_requests(self) -> list[Recorded]:
        """The Calendar API requests received so far."""
        return [r for r in self.requests if r.path.startswith("/calendar/")]

    # ---- handlers ------------------------------------------------------------------------------

    def _failure(self, path: str) -> Response | None:
        for i, (prefix, status) in enumerate(self._failures):
            if path.startswith(prefix):
                del self._failures[i]
                message, reason, state, domain = _FAILURES[status]
                if path == "/token":
                    return oauth_error(status, "temporarily_unavailable", message)
                return api_error(status, message, reason, state, domain)
        return None

    def _token(self, form: dict[str, str], authorization: str) -> Response:
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        if authorization.lower().startswith("basic "):
            decoded = base64.b64decode(authorization[6:]).decode()
            client_id, _, client_secret = decoded.partition(":")
        if form.get("grant_type") != "refresh_token":
            return oauth_error(
                400, "unsupported_grant_type", "Invalid grant_type: " + form.get("grant_type", "")
            )
        if self.clients.get(client_id) is None or not secrets.compare_digest(
            self.clients[client_id], client_secret
        ):
            return oauth_error(401, "invalid_client", "The OAuth client was not found.")
        owner = self.refresh_tokens.get(form.get("refresh_token", ""))
        if owner is None or owner[0] != client_id:
            return oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        token = self.issue(owner[1])
        return Response(
            {
                "access_token": token,
                "expires_in": self.token_lifetime,
                "scope": READONLY,
                "token_type": "Bearer",
            }
        )

    def _user(self, authorization: str) -> str | Response:
        if not authorization.startswith("Bearer "):
            return api_error(401, _MISSING, "required", "UNAUTHENTICATED")
        found = self.access_tokens.get(authorization[7:].strip())
        if found is None or found[1] <= time.time():
            return api_error(401, _UNAUTHENTICATED, "authError", "UNAUTHENTICATED")
        return found[0]

    def _events(self, user: str, calendar_id: str, query: dict[str, str]) -> Response:
        calendar = user if calendar_id == "primary" else calendar_id
        items = self.calendars.get((user, calendar))
        if items is None and calendar != user:
            return api_error(404, "Not Found", "notFound", "NOT_FOUND")
        time_min, time_max = _rfc3339(query.get("timeMin")), _rfc3339(query.get("timeMax"))
        if ("timeMin" in query and time_min is None) or ("timeMax" in query and time_max is None):
            return _bad("Bad Request", "badRequest")
        if time_min and time_max and time_max <= time_min:
            return _bad("The specified time range is empty.", "timeRangeEmpty")
        try:
            max_results = int(query.get("maxResults", "250"))
        except ValueError:
            return _bad("Invalid value for: maxResults")
        if not 1 <= max_results <= 2500:
            return _bad(f"Invalid value '{max_results}'. Values must be within the range: [1, 2500]")
        if query.get("orderBy") == "startTime" and query.get("singleEvents") != "true":
            return _bad("The requested ordering is not available for the particular query.")
        signature = hashlib.sha256(
            json.dumps(
                [user, calendar, {k: v for k, v in sorted(query.items()) if k != "pageToken"}]
            ).encode()
        ).hexdigest()
        offset = 0
        if "pageToken" in query:
            found = self._pages.get(query["pageToken"])
            if found is None or found[0] != signature:
                return _bad("Invalid page token value.")
            offset = found[1]
        needle = query.get("q", "").lower()
        selected = []
        for event in items or []:
            if event.get("status") == "cancelled" and query.get("showDeleted") != "true":
                continue
            if event.get("_hidden") and query.get("showHiddenInvitations") != "true":
                continue
            if time_min and _start_of(event, "end") <= time_min:
                continue
            if time_max and _start_of(event, "start") >= time_max:
                continue
            haystack = " ".join(
                [str(event.get(k, "")) for k in ("summary", "description", "location")]
                + [str(a.get("email", "")) for a in event.get("attendees", [])]
            ).lower()
            if needle and needle not in haystack:
                continue
            selected.append({k: v for k, v in event.items() if not k.startswith("_")})
        selected.sort(key=lambda e: _start_of(e, "start"))
        page = selected[offset : offset + max_results]
        body: dict[str, Any] = {
            "kind": "calendar#events",
            "etag": f'"{secrets.randbelow(10**16)}"',
            "summary": calendar,
            "description": "",
            "updated": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "timeZone": "Europe/Paris",
            "accessRole": "owner",
            "defaultReminders": [{"method": "popup", "minutes": 10}],
            "items": page,
        }
        if offset + max_results < len(selected):
            token = secrets.token_urlsafe(24)
            self._pages[token] = (signature, offset + max_results)
            body["nextPageToken"] = token
        else:
            body["nextSyncToken"] = secrets.token_urlsafe(16)
        return Response(body)

    def app(self) -> Litestar:
        """The Litestar application."""
        server = self

        async def record(request: Request, form: dict[str, str] | None = None) -> Response | None:
            server.requests.append(
                Recorded(
                    request.method,
                    request.url.path,
                    dict(request.query_params),
                    {k.lower(): v for k, v in request.headers.items()},
                    form or {},
                )
            )
            return server._failure(request.url.path)

        @post("/token", status_code=200)
        async def token(request: Request) -> Response:
            form = dict(parse_qsl((await request.body()).decode()))
            if (failed := await record(request, form)) is not None:
                return failed
            if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                return oauth_error(400, "invalid_request", "Invalid content type.")
            return server._token(form, request.headers.get("authorization", ""))

        @get("/calendar/v3/calendars/{calendar_id:str}/events")
        async def events(request: Request) -> Response:
            if (failed := await record(request)) is not None:
                return failed
            user = server._user(request.headers.get("authorization", ""))
            if isinstance(user, Response):
                return user
            return server._events(user, request.path_params["calendar_id"], dict(request.query_params))

        return Litestar([token, events])


def in_days(days: float, hour: int = 10) -> datetime:
    """A time ``days`` from today at ``hour``:00 UTC (for events relative to now)."""
    today = datetime.now(UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    return today + timedelta(days=days)
