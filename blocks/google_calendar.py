"""Google Calendar block (AutoGPT's ``GoogleCalendarReadEventsBlock``): the events of a calendar.

It speaks the Calendar API v3 through :func:`workbench.net.safe_client`:
``GET {root}/calendar/v3/calendars/{calendarId}/events`` with ``timeMin``, ``timeMax``, ``maxResults``,
``singleEvents=true``, ``orderBy=startTime``, ``q`` and ``pageToken``, and ``Authorization: Bearer``.
One page per run, as AutoGPT: ``next_page_token`` fetches the next one.

The credential is a ``google`` one (type ``oauth2``) whose secret holds ``access_token`` and, to renew
it, ``refresh_token`` and ``expires_at`` (Unix seconds or an ISO 8601 time; AutoGPT's
``access_token_expires_at`` is read too). The OAuth client that renews it is the credential's own
(``client_id`` and ``client_secret``) or the platform's (``WORKBENCH_GOOGLE_CLIENT_ID`` / ``_SECRET``).
A token that expires within :data:`EXPIRY_MARGIN` seconds is renewed before the call, and a token the
API rejects (401) is renewed once and the call repeated; the renewed token is stored back in the vault.
The renewal is a plain form POST (``grant_type=refresh_token``) to ``WORKBENCH_GOOGLE_TOKEN_URL`` (else
Google's endpoint); a credential's own ``token_url`` is used only with its own client, so the
platform's client secret never goes to a host a user chose.

API root: the credential's ``base_url`` (the user's choice, under the SSRF guard), else
``WORKBENCH_GOOGLE_API_BASE_URL`` (the operator's, trusted), else https://www.googleapis.com. Errors:
401, and 403 other than a rate limit, are :class:`~workbench.errors.CredentialsError`; 429, 403
``rateLimitExceeded`` and 5xx are :class:`~workbench.errors.RetryableError`; other 4xx are
:class:`~workbench.errors.BlockError` with Google's message. Secrets never appear in messages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field

from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema
from workbench.block.base import get_context
from workbench.block.context import Credential, RunContext
from workbench.errors import BlockError, CredentialsError, RetryableError, WorkbenchError

if TYPE_CHECKING:  # workbench.net brings httpx: imported when the block makes a request
    from workbench.net import HttpPolicy, HttpResult

log = logging.getLogger(__name__)

PROVIDER = "google"
GOOGLE_API = "https://www.googleapis.com"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
READONLY_SCOPE = "https://www.googleapis.com/auth/calendar.readonly"
EXPIRY_MARGIN = 60
"""Seconds before its expiry at which an access token is renewed rather than used."""
MAX_RESULTS = 2500
"""The most events the API returns in one page."""
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
"""403 reasons that mean "too many requests" (retryable), not "forbidden"."""

GOOGLE_TEST_CREDENTIALS_INPUT = {
    "provider": PROVIDER,
    "id": "01234567-89ab-cdef-0123-456789abcdef",
    "type": "oauth2",
    "title": "Mock Google OAuth2 Credentials",
}
"""AutoGPT's test credentials reference for the Google blocks (not resolved by the self-test)."""


def _google_error(result: HttpResult) -> tuple[str, set[str]]:
    """Google's message and error reasons from an error answer (API or OAuth shape)."""
    try:
        body = result.json()
    except BlockError:
        return result.text.strip()[:200], set()
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        reasons = {str(e.get("reason")) for e in error.get("errors") or [] if isinstance(e, dict)}
        return str(error.get("message") or error.get("status") or "")[:300], reasons
    if isinstance(error, str):  # the token endpoint: {"error": "invalid_grant", "error_description": ...}
        description = str(body.get("error_description") or "").strip()
        return (f"{error}: {description}" if description else error)[:300], {error}
    return str(body)[:200], set()


def _expiry(value: Any) -> float | None:
    """Unix seconds from ``expires_at`` as stored: a number, a numeric text, or an ISO 8601 time."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _trusting(policy: HttpPolicy, url: str) -> HttpPolicy:
    """``policy`` that lets the host of ``url`` (an operator's setting) through the SSRF guard."""
    host = (urlsplit(url).hostname or "").lower()
    return replace(policy, allow_hosts=policy.allow_hosts | {host}) if host else policy


@dataclass(slots=True)
class GoogleToken:
    """The OAuth2 token of one ``google`` credential; renews it and stores it back when it expired."""

    context: RunContext = field(repr=False)
    credential_id: str
    secret: dict[str, Any] = field(repr=False)
    stored_expiry: float | None = None
    """The credential's own ``expires_at`` (vault metadata), when the secret names none."""
    renewed: bool = False

    @classmethod
    def of(cls, context: RunContext, cred: Credential) -> GoogleToken:
        """The token of ``cred``; CredentialsError when it holds neither an access nor a refresh token."""
        secret = dict(cred.secret)
        if not secret.get("access_token") and not secret.get("refresh_token"):
            raise CredentialsError(
                f"credential {cred.meta.id} has no access_token or refresh_token for Google: "
                "store the OAuth2 tokens of the Google account in it"
            )
        return cls(context, cred.meta.id, secret, _expiry(getattr(cred.meta, "expires_at", None)))

    @property
    def access_token(self) -> str:
        """The current access token ("" when there is none yet)."""
        return str(self.secret.get("access_token") or "")

    @property
    def can_renew(self) -> bool:
        """Whether a refresh token is at hand (and this run has not renewed the token already)."""
        return bool(self.secret.get("refresh_token")) and not self.renewed

    def stale(self, now: float | None = None) -> bool:
        """True when there is no access token, or it expires within :data:`EXPIRY_MARGIN` seconds."""
        expiry = _expiry(self.secret.get("expires_at"))
        if expiry is None:
            expiry = _expiry(self.secret.get("access_token_expires_at"))
        if expiry is None:
            expiry = self.stored_expiry
        now = time.time() if now is None else now
        return not self.access_token or (expiry is not None and expiry <= now + EXPIRY_MARGIN)

    def _client(self) -> tuple[str, str, str, bool]:
        """(token URL, client id, client secret, whether the URL is the operator's)."""
        settings = self.context.settings
        own_id, own_secret = self.secret.get("client_id"), self.secret.get("client_secret")
        if own_id and own_secret:
            own_url = str(self.secret.get("token_url") or "")
            if own_url:
                return own_url, str(own_id), str(own_secret), False
            url = settings.google_token_url or GOOGLE_TOKEN_URL
            return url, str(own_id), str(own_secret), bool(settings.google_token_url)
        if not (settings.google_client_id and settings.google_client_secret):
            raise CredentialsError(
                f"the access token of credential {self.credential_id} expired and cannot be renewed: "
                "no OAuth client (set WORKBENCH_GOOGLE_CLIENT_ID and WORKBENCH_GOOGLE_CLIENT_SECRET, or "
                "put client_id and client_secret in the credential)"
            )
        url = settings.google_token_url or GOOGLE_TOKEN_URL
        return url, settings.google_client_id, settings.google_client_secret, bool(settings.google_token_url)

    async def renew(self) -> None:
        """Get a new access token with the refresh token, and store it in the vault."""
        from workbench.net import HttpPolicy, safe_client

        if not self.secret.get("refresh_token"):
            raise CredentialsError(
                f"the access token of credential {self.credential_id} expired and the credential has no "
                "refresh_token to renew it: connect the Google account again"
            )
        url, client_id, client_secret, trusted = self._client()
        if not url.startswith(("http://", "https://")):
            raise CredentialsError(f"the token_url of credential {self.credential_id} is not an http(s) URL")
        form = {
            "grant_type": "refresh_token",
            "refresh_token": str(self.secret["refresh_token"]),
            "client_id": client_id,
            "client_secret": client_secret,
        }
        policy = HttpPolicy.from_settings(self.context.settings)
        what = f"renewing the access token of credential {self.credential_id}"
        async with safe_client(_trusting(policy, url) if trusted else policy) as http:
            result = await _send(
                http.request("POST", url, data=form, headers={"Accept": "application/json"}), what
            )
        if result.status_code >= 300:
            raise self._renew_error(result, what)
        found = result.json()
        token = found.get("access_token") if isinstance(found, dict) else None
        if not token:
            raise BlockError(f"Google's token endpoint sent no access_token while {what}")
        lifetime = found.get("expires_in")
        expiry = int(time.time()) + (int(lifetime) if isinstance(lifetime, int | float) else 3600)
        secret = {**self.secret, "access_token": str(token), "expires_at": expiry}
        if "access_token_expires_at" in secret:
            secret["access_token_expires_at"] = expiry
        if found.get("refresh_token"):  # Google may rotate it
            secret["refresh_token"] = str(found["refresh_token"])
        self.secret, self.renewed = secret, True
        try:
            await self.context.update_credential(self.credential_id, secret)
        except WorkbenchError as exc:  # the call can go on with the new token; the next run renews again
            log.warning("could not store the renewed token of credential %s: %s", self.credential_id, exc)

    def _renew_error(self, result: HttpResult, what: str) -> BlockError:
        status, (message, reasons) = result.status_code, _google_error(result)
        if status == 429 or status >= 500:
            return RetryableError(f"Google's token endpoint failed while {what} ({status} {message})")
        if reasons & {"invalid_client", "unauthorized_client"}:
            return CredentialsError(
                f"Google does not accept the OAuth client while {what} ({status} {message}): check "
                "WORKBENCH_GOOGLE_CLIENT_ID/SECRET or the credential's client_id and client_secret"
            )
        return CredentialsError(
            f"Google refused {what} ({status} {message}): connect the Google account again"
        )


async def _send(request: Any, what: str) -> HttpResult:
    """Await a request; a connection failure or timeout is retryable, a refused address is not."""
    from workbench.net import BlockedAddress, RequestTimeout, ResponseTooLarge, TooManyRedirects

    try:
        return await request
    except (BlockedAddress, ResponseTooLarge, TooManyRedirects):
        raise
    except BlockError as exc:
        kind = "timed out" if isinstance(exc, RequestTimeout) else "could not be reached"
        raise RetryableError(f"Google {kind} while {what}: {exc}") from exc


class GoogleApi:
    """GET requests to a Google API with a ``google`` credential's token, renewed when it expired."""

    def __init__(self, context: RunContext, token: GoogleToken, base_url: str, policy: HttpPolicy) -> None:
        self.context = context
        self.token = token
        self.base_url = base_url.rstrip("/")
        self.policy = policy

    async def get(self, path: str, what: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The JSON object at ``path``; our error about ``what`` for any failure."""
        from workbench.net import safe_client

        if self.token.stale() and self.token.can_renew:
            await self.token.renew()
        async with safe_client(self.policy) as http:
            while True:
                headers = {"Authorization": f"Bearer {self.token.access_token}", "Accept": "application/json"}
                request = http.request("GET", self.base_url + path, params=params, headers=headers)
                result = await _send(request, what)
                if result.status_code == 401 and self.token.can_renew:
                    await self.token.renew()
                    continue
                break
        if result.status_code >= 300:
            raise self._error(result, what)
        found = result.json()
        if not isinstance(found, dict):
            raise BlockError(f"Google answered {what} with {type(found).__name__}, not an object")
        return found

    def _error(self, result: HttpResult, what: str) -> BlockError:
        status, (message, reasons) = result.status_code, _google_error(result)
        cred = f"the {PROVIDER!r} credential {self.token.credential_id}"
        if status == 401:
            return CredentialsError(
                f"Google rejected the access token while {what} (401 {message}): connect {cred} again"
            )
        if status == 429 or (status == 403 and reasons & RATE_LIMIT_REASONS):
            after = result.headers.get("retry-after")
            hint = f"; it asks to retry after {after} s" if after else ""
            return RetryableError(f"Google rate limit reached while {what} ({status} {message}){hint}")
        if status == 403:
            return CredentialsError(
                f"Google refused {what} (403 {message}): {cred} lacks access or the {READONLY_SCOPE} scope"
            )
        if status >= 500:
            return RetryableError(f"Google failed while {what} ({status} {message})")
        if status == 404:
            return BlockError(f"Google found nothing while {what} (404 {message}): check the calendar id")
        return BlockError(f"Google refused {what} ({status} {message})")


@asynccontextmanager
async def google_api(context: RunContext, credentials: Any) -> AsyncIterator[GoogleApi]:
    """A :class:`GoogleApi` with the run's ``google`` credential and the configured API root."""
    from workbench.net import HttpPolicy

    cred = await context.get_credential(PROVIDER, credentials)
    token = GoogleToken.of(context, cred)
    chosen = str(cred.secret.get("base_url") or "").strip()
    if chosen and not chosen.startswith(("http://", "https://")):
        raise CredentialsError(f"the base_url of credential {cred.meta.id} must be an http(s) URL")
    setting = context.settings.google_api_base_url
    policy = HttpPolicy.from_settings(context.settings)
    if chosen:
        yield GoogleApi(context, token, chosen, policy)
    elif setting:
        yield GoogleApi(context, token, setting, _trusting(policy, setting))
    else:
        yield GoogleApi(context, token, GOOGLE_API, policy)


# ---- events ------------------------------------------------------------------------------------


def _when(value: dict[str, Any]) -> str:
    """An event time as AutoGPT shows it: the date of an all-day event, else ``YYYY-MM-DD HH:MM``
    in the event's own offset."""
    if "date" in value:
        return str(value.get("date") or "")
    text = str(value.get("dateTime") or "")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return text


def _video_link(event: dict[str, Any]) -> str | None:
    conference = event.get("conferenceData") or {}
    if conference.get("conferenceUrl"):
        return str(conference["conferenceUrl"])
    for entry in conference.get("entryPoints") or []:
        if isinstance(entry, dict) and entry.get("entryPointType") == "video":
            return str(entry.get("uri") or "") or None
    return str(event["hangoutLink"]) if event.get("hangoutLink") else None


def declined(event: dict[str, Any]) -> bool:
    """True when the calendar's owner (the attendee marked ``self``) declined the event."""
    return any(
        isinstance(a, dict) and a.get("self") and a.get("responseStatus") == "declined"
        for a in event.get("attendees") or []
    )


def format_event(event: dict[str, Any]) -> dict[str, Any]:
    """An API event in AutoGPT's ``CalendarEvent`` shape."""
    start, end = event.get("start") or {}, event.get("end") or {}
    video = _video_link(event)
    return {
        "id": str(event.get("id", "")),
        "title": str(event.get("summary") or "Untitled Event"),
        "start_time": _when(start),
        "end_time": _when(end),
        "is_all_day": "date" in start,
        "location": event.get("location"),
        "description": event.get("description"),
        "organizer": (event.get("organizer") or {}).get("email"),
        "attendees": [
            str(a["email"]) for a in event.get("attendees") or [] if isinstance(a, dict) and a.get("email")
        ],
        "has_video_call": video is not None,
        "video_link": video,
        "calendar_link": str(event.get("htmlLink") or ""),
        # singleEvents=true expands a series into instances, which carry recurringEventId, not recurrence
        "is_recurring": bool(event.get("recurrence") or event.get("recurringEventId")),
    }


def format_events(items: list[Any], include_declined: bool) -> list[dict[str, Any]]:
    """The API's ``items`` in AutoGPT's shape, without the declined ones unless ``include_declined``."""
    return [format_event(e) for e in items if isinstance(e, dict) and (include_declined or not declined(e))]


def _aware(moment: datetime, zone_name: str) -> datetime:
    """``moment`` with a time zone: a naive one is taken in the user's zone (UTC when unknown)."""
    if moment.tzinfo is not None:
        return moment
    try:
        zone: Any = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    return moment.replace(tzinfo=zone)


_TEST_TOMORROW = datetime(2025, 1, 7, 10, 0, tzinfo=UTC)
_TEST_EVENT = {
    "id": "event1id",
    "title": "Team Meeting",
    "start_time": "2025-01-07 10:00",
    "end_time": "2025-01-07 11:00",
    "is_all_day": False,
    "location": "Conference Room A",
    "description": "Weekly team sync",
    "organizer": "manager@example.com",
    "attendees": ["colleague1@example.com", "colleague2@example.com"],
    "has_video_call": True,
    "video_link": "https://meet.google.com/abc-defg-hij",
    "calendar_link": "https://calendar.google.com/calendar/event?eid=event1id",
    "is_recurring": True,
}
_TEST_PAGE = {
    "items": [
        {
            "id": "event1id",
            "summary": "Team Meeting",
            "start": {"dateTime": _TEST_TOMORROW.isoformat(), "timeZone": "UTC"},
            "end": {"dateTime": (_TEST_TOMORROW + timedelta(hours=1)).isoformat(), "timeZone": "UTC"},
            "location": "Conference Room A",
            "description": "Weekly team sync",
            "organizer": {"email": "manager@example.com"},
            "attendees": [{"email": "colleague1@example.com"}, {"email": "colleague2@example.com"}],
            "conferenceData": {"conferenceUrl": "https://meet.google.com/abc-defg-hij"},
            "htmlLink": "https://calendar.google.com/calendar/event?eid=event1id",
            "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=10"],
        }
    ],
    "nextPageToken": None,
}


class GoogleCalendarReadEventsBlock(Block):
    """Reads the upcoming events of a Google Calendar, one page at a time."""

    id = "80bc3ed1-e9a4-449e-8163-a8fc86f74f6a"
    name = "GoogleCalendarReadEventsBlock"
    description = "Retrieves upcoming events from a Google Calendar with filtering options."
    categories = (BlockCategory.PRODUCTIVITY, BlockCategory.DATA)
    max_retries = 2

    class Input(BlockSchema):
        credentials: Any = Field(
            default=None,
            description="The 'google' OAuth2 credential ({id, provider, type} or an id; needs the "
            "calendar.readonly scope); empty: your only Google credential.",
        )
        calendar_id: str = Field(
            default="primary", description="Calendar ID (use 'primary' for your main calendar)."
        )
        max_events: int = Field(default=10, description="Maximum number of events to retrieve (up to 2500).")
        start_time: datetime = Field(
            default_factory=lambda: datetime.now(tz=UTC),
            description="Retrieve events starting from this time (without a zone: in your time zone).",
        )
        time_range_days: int = Field(default=30, description="Number of days to look ahead for events.")
        search_term: str | None = Field(default=None, description="Optional search term to filter events by.")
        page_token: str | None = Field(
            default=None,
            description="Page token from a previous run (its next_page_token) to get the next batch of events.",
        )
        include_declined_events: bool = Field(default=False, description="Include events you've declined.")

    class Output(BlockSchema):
        events: list[dict[str, Any]] = Field(
            description="The calendar events in the requested time range: {id, title, start_time, end_time, "
            "is_all_day, location, description, organizer, attendees, has_video_call, video_link, "
            "calendar_link, is_recurring}."
        )
        event: dict[str, Any] = Field(description="One of the calendar events, one at a time.")
        next_page_token: str = Field(
            description="Token for retrieving the next page of events, when more exist."
        )

    test_input = {
        "credentials": GOOGLE_TEST_CREDENTIALS_INPUT,
        "calendar_id": "primary",
        "max_events": 5,
        "start_time": "2025-01-06T09:00:00+00:00",
        "time_range_days": 7,
        "search_term": None,
        "include_declined_events": False,
        "page_token": None,
    }
    test_output = [("event", _TEST_EVENT), ("events", [_TEST_EVENT])]
    test_mock = {"_read_calendar": lambda context, data: _TEST_PAGE}

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        page = await self._read_calendar(get_context(kwargs), input_data)
        events = format_events(page.get("items") or [], input_data.include_declined_events)
        if page.get("nextPageToken"):
            yield "next_page_token", str(page["nextPageToken"])
        for event in events:
            yield "event", event
        yield "events", events

    async def _read_calendar(self, context: RunContext, data: Input) -> dict[str, Any]:
        """One page of the API's event listing (replaced by the self-test's mock)."""
        if not data.calendar_id.strip():
            raise BlockError("calendar_id is empty: use 'primary' for your main calendar")
        if data.max_events < 1:
            raise BlockError(f"max_events must be at least 1, got {data.max_events}")
        if data.time_range_days < 1:
            raise BlockError(f"time_range_days must be at least 1, got {data.time_range_days}")
        start = _aware(data.start_time, context.user_timezone)
        params: dict[str, Any] = {
            "timeMin": start.isoformat(),
            "timeMax": (start + timedelta(days=data.time_range_days)).isoformat(),
            "maxResults": min(data.max_events, MAX_RESULTS),
            "singleEvents": "true",
            "orderBy": "startTime",
            "showDeleted": "false",
            "showHiddenInvitations": "true" if data.include_declined_events else "false",
        }
        if data.page_token:
            params["pageToken"] = data.page_token
        if data.search_term:
            params["q"] = data.search_term
        path = f"/calendar/v3/calendars/{quote(data.calendar_id.strip(), safe='')}/events"
        async with google_api(context, data.credentials) as api:
            return await api.get(path, f"listing the events of calendar {data.calendar_id!r}", params)
