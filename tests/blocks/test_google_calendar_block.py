"""The Google Calendar block's real client code against a local Google lookalike (token endpoint and
Calendar API v3), with OAuth2 credentials from the vault: event mapping, filters, paging, token renewal
stored back in the vault, error mapping, the SSRF guard on a credential's own API root."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from blocks.google_calendar import GoogleCalendarReadEventsBlock, format_event
from blocks.io import AgentOutputBlock
from tests.engine.graphs import graph, link, node
from tests.support.google_server import GoogleServer, in_days
from workbench.app import Workbench
from workbench.block.context import RunContext
from workbench.block.selftest import run_block_once
from workbench.errors import BlockError, CredentialsError, NotFoundError, RetryableError
from workbench.net import BlockedAddress

BLOCK = GoogleCalendarReadEventsBlock()


@pytest.fixture(scope="module")
def google() -> Iterator[GoogleServer]:
    server = GoogleServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def platform_client(google: GoogleServer) -> tuple[str, str]:
    return google.add_client()


class Env:
    """A user with a 'google' OAuth2 credential of the lookalike, and contexts to run the block in."""

    def __init__(self, wb: Workbench, google: GoogleServer, client: tuple[str, str]) -> None:
        self.wb, self.google, self.client = wb, google, client
        self.email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
        self.user_id = ""
        self.cred_id = ""
        self.access = self.refresh = ""

    async def setup(self, user_id: str, **secret: Any) -> Env:
        self.user_id = user_id
        self.access, self.refresh = self.google.add_user(self.email, self.client[0])
        base = {
            "access_token": self.access,
            "refresh_token": self.refresh,
            "expires_at": int(time.time()) + 3600,
        }
        self.cred_id = await self.credential({**base, **secret})
        return self

    async def credential(self, secret: dict[str, Any]) -> str:
        assert self.wb.credentials is not None
        secret = {k: v for k, v in secret.items() if v is not None}
        meta = await self.wb.credentials.create(self.user_id, "google", "oauth2", secret, title="calendar")
        return meta.id

    async def secret(self) -> dict[str, Any]:
        assert self.wb.credentials is not None
        return (await self.wb.credentials.resolve(self.user_id, self.cred_id)).secret

    def context(self, *, platform: bool = True, api_setting: bool = True, **changes: Any) -> RunContext:
        options: dict[str, Any] = {
            "http_allow": (),
            "google_api_base_url": self.google.url if api_setting else None,
            "google_token_url": self.google.token_url,
            "google_client_id": self.client[0] if platform else None,
            "google_client_secret": self.client[1] if platform else None,
        }
        settings = self.wb.settings.with_(**{**options, **changes})
        ctx = RunContext.for_test(settings, services=self.wb.block_services)
        ctx.user_id = self.user_id
        return ctx

    async def run(self, data: dict[str, Any] | None = None, cred: str | None = None, **kw: Any) -> list:
        inputs = {"credentials": {"id": cred or self.cred_id, "provider": "google", "type": "oauth2"}}
        return await run_block_once(BLOCK, {**inputs, **(data or {})}, self.context(**kw))


@pytest.fixture(scope="module")
async def user_id(wb: Workbench) -> str:
    assert wb.accounts is not None
    return (await wb.accounts.signup(f"cal-{uuid.uuid4().hex[:8]}@example.com", "correct horse battery")).id


@pytest.fixture
async def ada(wb: Workbench, google: GoogleServer, platform_client: tuple[str, str], user_id: str) -> Env:
    """A fresh Google account (its own calendar) with a fresh credential of the module's user."""
    return await Env(wb, google, platform_client).setup(user_id)


def pins(out: list[tuple[str, Any]], pin: str) -> list[Any]:
    return [v for p, v in out if p == pin]


async def test_events_in_range_in_autogpt_shape(ada: Env) -> None:
    g = ada.google
    meeting = g.add_event(
        ada.email,
        "Design review",
        in_days(2),
        in_days(2) + timedelta(hours=1),
        location="Room 4",
        description="Bring the mockups",
        attendees=[
            {"email": ada.email, "self": True, "responseStatus": "accepted"},
            {"email": "bob@example.com", "responseStatus": "needsAction"},
        ],
        hangoutLink="https://meet.google.com/aaa-bbbb-ccc",
        conferenceData={
            "entryPoints": [
                {"entryPointType": "phone", "uri": "tel:+1-555-0100"},
                {"entryPointType": "video", "uri": "https://meet.google.com/aaa-bbbb-ccc"},
            ]
        },
        recurringEventId="series1",
    )
    holiday = g.add_event(ada.email, "Holiday", in_days(5).date(), in_days(6).date())
    g.add_event(ada.email, "Way later", in_days(45), in_days(45) + timedelta(hours=1))
    g.add_event(ada.email, "Yesterday", in_days(-1), in_days(-1) + timedelta(hours=1))
    g.add_event(ada.email, "Cancelled", in_days(3), in_days(3) + timedelta(hours=1), status="cancelled")
    out = await ada.run({"start_time": datetime.now(UTC).isoformat()})
    expected = [
        {
            "id": meeting["id"],
            "title": "Design review",
            "start_time": in_days(2).strftime("%Y-%m-%d %H:%M"),
            "end_time": (in_days(2) + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M"),
            "is_all_day": False,
            "location": "Room 4",
            "description": "Bring the mockups",
            "organizer": ada.email,
            "attendees": [ada.email, "bob@example.com"],
            "has_video_call": True,
            "video_link": "https://meet.google.com/aaa-bbbb-ccc",
            "calendar_link": meeting["htmlLink"],
            "is_recurring": True,
        },
        {
            "id": holiday["id"],
            "title": "Holiday",
            "start_time": in_days(5).date().isoformat(),
            "end_time": in_days(6).date().isoformat(),
            "is_all_day": True,
            "location": None,
            "description": None,
            "organizer": ada.email,
            "attendees": [],
            "has_video_call": False,
            "video_link": None,
            "calendar_link": holiday["htmlLink"],
            "is_recurring": False,
        },
    ]
    assert out == [("event", expected[0]), ("event", expected[1]), ("events", expected)]
    (request,) = g.api_requests()
    assert request.path == "/calendar/v3/calendars/primary/events"
    assert request.headers["authorization"] == f"Bearer {ada.access}"
    q = request.query
    assert (q["singleEvents"], q["orderBy"], q["maxResults"], q["showDeleted"]) == (
        "true",
        "startTime",
        "10",
        "false",
    )
    assert q["showHiddenInvitations"] == "false" and "pageToken" not in q and "q" not in q
    span = datetime.fromisoformat(q["timeMax"]) - datetime.fromisoformat(q["timeMin"])
    assert span == timedelta(days=30)


async def test_declined_and_hidden_events_only_when_asked(ada: Env) -> None:
    g = ada.google
    g.add_event(ada.email, "Kept", in_days(1), in_days(1) + timedelta(hours=1))
    g.add_event(
        ada.email,
        "Declined",
        in_days(1, 12),
        in_days(1, 13),
        attendees=[{"email": ada.email, "self": True, "responseStatus": "declined"}],
    )
    g.add_event(ada.email, "Hidden invitation", in_days(1, 14), in_days(1, 15), _hidden=True)
    out = await ada.run({"time_range_days": 7})
    assert [e["title"] for e in pins(out, "event")] == ["Kept"]
    out = await ada.run({"time_range_days": 7, "include_declined_events": True})
    assert [e["title"] for e in pins(out, "event")] == ["Kept", "Declined", "Hidden invitation"]
    assert g.api_requests()[-1].query["showHiddenInvitations"] == "true"


async def test_search_and_paging_with_the_next_page_token(ada: Env) -> None:
    for i in range(5):
        ada.google.add_event(ada.email, f"Standup {i}", in_days(i + 1, 9), in_days(i + 1, 10))
    ada.google.add_event(ada.email, "Lunch", in_days(1, 12), in_days(1, 13))
    titles: list[str] = []
    token = None
    start = datetime.now(UTC).isoformat()  # the same query on every page, as Google wants
    for expected_more in (True, True, False):
        data = {"search_term": "STANDUP", "max_events": 2, "page_token": token, "start_time": start}
        out = await ada.run(data)
        titles += [e["title"] for e in pins(out, "events")[0]]
        tokens = pins(out, "next_page_token")
        assert bool(tokens) is expected_more
        if tokens:
            assert out[0] == ("next_page_token", tokens[0])  # first, as AutoGPT yields it
            token = tokens[0]
    assert titles == [f"Standup {i}" for i in range(5)]
    assert [r.query.get("q") for r in ada.google.api_requests()[-3:]] == ["STANDUP"] * 3


async def test_an_expired_token_is_renewed_and_stored(ada: Env) -> None:
    assert ada.wb.credentials is not None
    expired = await ada.credential(
        {"access_token": "ya29.stale", "refresh_token": ada.refresh, "expires_at": int(time.time()) - 10}
    )
    ada.google.add_event(ada.email, "Soon", in_days(1), in_days(1, 11))
    out = await ada.run(cred=expired)
    assert [e["title"] for e in pins(out, "event")] == ["Soon"]
    token_request, api_request = [r for r in ada.google.requests if r.form or r.path.startswith("/calendar")][
        -2:
    ]
    assert token_request.path == "/token"
    assert token_request.form == {
        "grant_type": "refresh_token",
        "refresh_token": ada.refresh,
        "client_id": ada.client[0],
        "client_secret": ada.client[1],
    }
    stored = (await ada.wb.credentials.resolve(ada.user_id, expired)).secret
    assert stored["access_token"] != "ya29.stale" and stored["refresh_token"] == ada.refresh
    assert stored["expires_at"] > time.time() + 3000
    assert api_request.headers["authorization"] == f"Bearer {stored['access_token']}"
    before = len(ada.google.requests)
    await ada.run(cred=expired)
    assert [r.path for r in ada.google.requests[before:]] == ["/calendar/v3/calendars/primary/events"]


async def test_a_rejected_token_is_renewed_once_and_the_call_repeated(ada: Env) -> None:
    ada.google.expire(ada.access)  # expired early: the stored expires_at still says it is good
    out = await ada.run()
    assert pins(out, "events") == [[]]
    assert [r.path for r in ada.google.requests[-3:]] == [
        "/calendar/v3/calendars/primary/events",
        "/token",
        "/calendar/v3/calendars/primary/events",
    ]
    assert (await ada.secret())["access_token"] != ada.access


async def test_renewal_failures_are_credential_errors(ada: Env) -> None:
    ada.google.expire(ada.access)
    with pytest.raises(CredentialsError, match=r"no OAuth client .*WORKBENCH_GOOGLE_CLIENT_ID"):
        await ada.run(platform=False)
    del ada.google.refresh_tokens[ada.refresh]  # the user revoked the app
    with pytest.raises(CredentialsError, match="invalid_grant: Token has been expired or revoked"):
        await ada.run()
    no_refresh = await ada.credential({"access_token": ada.access})
    with pytest.raises(CredentialsError, match=r"rejected the access token .*401 Request had invalid"):
        await ada.run(cred=no_refresh)
    wrong = await ada.credential(
        {"access_token": ada.access, "refresh_token": ada.refresh, "client_id": "nope", "client_secret": "x"}
    )
    with pytest.raises(CredentialsError, match="does not accept the OAuth client"):
        await ada.run(cred=wrong)


async def test_the_credentials_own_client_renews_without_the_platforms(ada: Env) -> None:
    client_id, client_secret = ada.google.add_client()
    access, refresh = ada.google.add_user(ada.email, client_id)
    ada.google.expire(access)
    own = await ada.credential(
        {
            "access_token": access,
            "refresh_token": refresh,
            "client_id": client_id,
            "client_secret": client_secret,
        }
    )
    assert pins(await ada.run(cred=own, platform=False), "events") == [[]]
    assert ada.google.requests[-2].form["client_id"] == client_id


async def test_the_platform_secret_never_goes_to_a_users_token_url(wb: Workbench, ada: Env) -> None:
    elsewhere = GoogleServer().start()
    try:
        ada.google.expire(ada.access)
        sneaky = await ada.credential(
            {"access_token": ada.access, "refresh_token": ada.refresh, "token_url": elsewhere.token_url}
        )
        assert pins(await ada.run(cred=sneaky, http_allow=("127.0.0.1",)), "events") == [[]]
        assert elsewhere.requests == []
    finally:
        elsewhere.stop()


@pytest.mark.parametrize(
    ("status", "kind"),
    [(429, RetryableError), (403, RetryableError), (500, RetryableError), (503, RetryableError)],
)
async def test_rate_limits_and_failures_are_retryable(ada: Env, status: int, kind: type) -> None:
    ada.google.fail("/calendar/", status)
    with pytest.raises(kind, match=f"\\({status} "):
        await ada.run()
    assert pins(await ada.run(), "events") == [[]]


async def test_a_token_endpoint_outage_is_retryable(ada: Env) -> None:
    ada.google.expire(ada.access)
    ada.google.fail("/token", 503)
    with pytest.raises(RetryableError, match="token endpoint failed"):
        await ada.run()


async def test_bad_requests_say_what_google_said(ada: Env) -> None:
    with pytest.raises(BlockError, match=r"404 Not Found.*check the calendar id") as caught:
        await ada.run({"calendar_id": "team@group.calendar.google.com"})
    assert not isinstance(caught.value, CredentialsError | RetryableError)
    with pytest.raises(BlockError, match="max_events must be at least 1"):
        await ada.run({"max_events": 0})
    assert ada.google.api_requests()[-1].path.endswith("team@group.calendar.google.com/events")


async def test_a_naive_start_time_is_in_the_users_zone(ada: Env) -> None:
    ctx = ada.context()
    ctx.user_timezone = "Europe/Paris"
    data = {"credentials": ada.cred_id, "start_time": "2025-03-01T08:00:00", "time_range_days": 1}
    await run_block_once(BLOCK, data, ctx)
    assert ada.google.api_requests()[-1].query["timeMin"] == "2025-03-01T08:00:00+01:00"


async def test_a_credentials_own_api_root_is_guarded(ada: Env) -> None:
    own_root = await ada.credential({"access_token": ada.access, "base_url": ada.google.url})
    with pytest.raises(BlockedAddress, match=r"refused to connect to 127\.0\.0\.1"):
        await ada.run(cred=own_root, api_setting=False)
    assert pins(await ada.run(cred=own_root, api_setting=False, http_allow=("127.0.0.1",)), "events") == [[]]


async def test_the_vault_updates_only_the_owners_credential(wb: Workbench, ada: Env) -> None:
    assert wb.credentials is not None and wb.accounts is not None
    other = await wb.accounts.signup(f"eve-{uuid.uuid4().hex[:8]}@example.com", "correct horse battery")
    with pytest.raises(NotFoundError):
        await wb.credentials.update_secret(other.id, ada.cred_id, {"access_token": "stolen"})
    await wb.credentials.update_secret(ada.user_id, ada.cred_id, {"access_token": "new"})
    assert await ada.secret() == {"access_token": "new"}


def test_event_mapping_follows_autogpt() -> None:
    event = {
        "id": "e1",
        "start": {"dateTime": "2025-01-07T10:00:00Z"},
        "end": {"dateTime": "2025-01-07T11:30:00+00:00"},
        "conferenceData": {"conferenceUrl": "https://meet.example/x"},
    }
    found = format_event(event)
    assert found["title"] == "Untitled Event"
    assert (found["start_time"], found["end_time"]) == ("2025-01-07 10:00", "2025-01-07 11:30")
    assert (found["has_video_call"], found["video_link"]) == (True, "https://meet.example/x")
    assert (found["organizer"], found["calendar_link"], found["is_recurring"]) == (None, "", False)
    assert format_event({**event, "recurrence": ["RRULE:FREQ=DAILY"]})["is_recurring"] is True
    assert format_event({"start": {"date": "2025-01-07"}, "end": {"date": date(2025, 1, 8).isoformat()}})[
        "is_all_day"
    ]


@pytest.fixture
def wb_google(wb: Workbench, ada: Env) -> Iterator[Workbench]:
    before = wb.executions.settings
    wb.executions.settings = ada.context().settings
    yield wb
    wb.executions.settings = before


async def test_a_graph_run_renews_retries_and_completes(wb_google: Workbench, ada: Env) -> None:
    ada.google.add_event(ada.email, "Planning", in_days(1), in_days(1, 11))
    ada.google.expire(ada.access)
    ada.google.fail("/calendar/", 429)
    g = graph(
        [
            node("cal", BLOCK.id, credentials={"id": ada.cred_id, "provider": "google"}, max_events=5),
            node("out", AgentOutputBlock, name="titles"),
        ],
        [link("cal.event", "out.value")],
    )
    result = await wb_google.executions.run(g, {}, user_id=ada.user_id, timeout=30)
    assert result.status == "COMPLETED", result.error
    assert [e["title"] for e in result.outputs["titles"]] == ["Planning"]
    paths = [r.path for r in ada.google.requests[-3:]]
    assert paths == [
        "/calendar/v3/calendars/primary/events",
        "/token",
        "/calendar/v3/calendars/primary/events",
    ]
