"""Helpers of the REST API tests: clients that check every response, users, graphs, mails, the database.

Every client made here checks each response it gets (``check_response``): never a 5xx, always an
``X-Request-ID``, and every error in the one documented shape, with ``WWW-Authenticate`` on 401 and
``Retry-After`` on 429. So each test also checks the error contract of every call it makes.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.support.servers import ROOT, ServerProcess

HELLO = json.loads((ROOT / "examples" / "hello_agent.json").read_text())
INPUT_BLOCK = "c0a8e994-ebf1-4a9c-a4d8-89d09c86741b"
OUTPUT_BLOCK = "363ae599-353e-4804-937e-b2ee3cef3da4"
TEMPLATE_BLOCK = "db7d8f02-2f44-4c55-ab7a-eae0941f0c30"
TIMER_BLOCK = "d67a9c52-5e4e-11e2-bcfd-0800200c9a71"
NOTE_BLOCK = "cc10ff7b-7753-4ff2-9af6-9399b1a7eddc"
LEGACY_NOTE_BLOCK = "31d1064e-7446-4693-o7d4-65e5ca9110d1"  # AutoGPT's old, non-UUID id of NoteBlock
ERROR_KEYS = {"status", "code", "message", "request_id", "problems", "details"}
PASSWORD = "correct horse battery"
NO_CACHE = {
    "cache-control": "no-store, no-cache, must-revalidate, private",
    "pragma": "no-cache",
    "expires": "0",
}


def check_response(response: httpx.Response) -> None:
    """The contract every response keeps (an httpx response hook)."""
    response.read()
    request = response.request
    where = f"{request.method} {request.url} -> {response.status_code}: {response.text[:500]}"
    assert response.status_code < 500, where
    request_id = response.headers.get("x-request-id")
    assert request_id, f"no X-Request-ID: {where}"
    if response.status_code < 400:
        return
    body = response.json()
    assert set(body) == {"error"}, where
    error = body["error"]
    assert set(error) == ERROR_KEYS, where
    assert error["status"] == response.status_code, where
    assert error["request_id"] == request_id, where
    assert isinstance(error["code"], str) and error["code"], where
    assert isinstance(error["message"], str) and error["message"], where
    assert "Traceback" not in response.text, where
    if request.url.path.startswith("/api/v1"):
        for key, value in NO_CACHE.items():
            assert response.headers.get(key) == value, f"{key} missing: {where}"
    if response.status_code == 401:
        assert response.headers.get("www-authenticate", "").startswith("Bearer"), where
    if response.status_code == 429:
        assert int(response.headers["retry-after"]) >= 1, where


def api(
    server: ServerProcess,
    *,
    token: str | None = None,
    api_key: str | None = None,
    key_header: bool = False,
    headers: dict[str, str] | None = None,
) -> httpx.Client:
    """A client on ``/api/v1`` of the server, authenticated by a token or an API key (as a Bearer
    token, or in ``X-API-Key`` when ``key_header``), checking every response."""
    all_headers = dict(headers or {})
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    if api_key:
        if key_header:
            all_headers["X-API-Key"] = api_key
        else:
            all_headers["Authorization"] = f"Bearer {api_key}"
    return httpx.Client(
        base_url=server.base_url + "/api/v1",
        timeout=30,
        headers=all_headers,
        event_hooks={"response": [check_response]},
    )


class SessionAuth(httpx.Auth):
    """A logged-in session's tokens, used as a client uses them: the access token on each request,
    traded for new tokens with the refresh token when it has expired (a session-wide user outlives
    its 15 minutes on a slow machine). Only an expired token is refreshed: a revoked one stays 401."""

    requires_response_body = True
    FRESH_FOR = 10 * 60.0
    """Seconds a token is handed out (``User.access_token``) before it is refreshed first."""

    def __init__(self, server: ServerProcess, access_token: str, refresh_token: str) -> None:
        self.server = server
        self.access_token = access_token
        self.refresh_token = refresh_token
        self.issued = time.monotonic()

    def current(self) -> str:
        """An access token with minutes left (refreshed when this one is getting old)."""
        if time.monotonic() - self.issued > self.FRESH_FOR:
            self.refresh()
        return self.access_token

    def refresh(self) -> None:
        """Trade the refresh token for new tokens."""
        with api(self.server) as anonymous:
            r = anonymous.post("/auth/refresh", json={"refresh_token": self.refresh_token})
        assert r.status_code == 200, r.text
        tokens = r.json()
        self.access_token, self.refresh_token = tokens["access_token"], tokens["refresh_token"]
        self.issued = time.monotonic()

    def auth_flow(self, request: httpx.Request) -> Any:
        request.headers["Authorization"] = f"Bearer {self.access_token}"
        response = yield request
        if response.status_code == 401 and b"ExpiredTokenError" in response.content:
            self.refresh()
            request.headers["Authorization"] = f"Bearer {self.access_token}"
            yield request


@dataclass
class User:
    """An account on a server, with a client authenticated by its session's tokens (refreshed when
    they expire)."""

    server: ServerProcess
    email: str
    password: str
    id: str
    session: SessionAuth = field(repr=False)
    client: httpx.Client = field(repr=False)

    @property
    def access_token(self) -> str:
        """The session's access token, with minutes left."""
        return self.session.current()

    @property
    def refresh_token(self) -> str:
        """The session's current refresh token."""
        return self.session.refresh_token

    def key(self, *scopes: str, name: str = "test key") -> tuple[str, dict[str, Any]]:
        """A new API key of this user: (the key, its metadata)."""
        r = self.client.post("/api-keys", json={"name": name, "scopes": list(scopes)})
        assert r.status_code == 201, r.text
        body = r.json()
        return body.pop("key"), body

    def close(self) -> None:
        """Close the client."""
        self.client.close()


def unique_email(prefix: str = "user") -> str:
    """An address no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def signup(server: ServerProcess, prefix: str = "user", password: str = PASSWORD) -> User:
    """Create an account (sign-up answers 202 and no tokens) and log it in."""
    email = unique_email(prefix)
    with api(server) as anonymous:
        r = anonymous.post("/auth/signup", json={"email": email, "password": password, "name": prefix})
        assert r.status_code == 202, r.text
    return login(server, email, password)


def login(server: ServerProcess, email: str, password: str = PASSWORD) -> User:
    """Log an existing account in."""
    with api(server) as anonymous:
        r = anonymous.post("/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    tokens = r.json()
    session = SessionAuth(server, tokens["access_token"], tokens["refresh_token"])
    client = api(server)
    client.auth = session
    me = client.get("/auth/me")
    assert me.status_code == 200, me.text
    return User(server, email, password, me.json()["id"], session, client)


# ---- graphs ----------------------------------------------------------------------------------------


def hello_graph(**changes: Any) -> dict[str, Any]:
    """examples/hello_agent.json under a fresh id (so tests do not share graphs)."""
    doc = copy.deepcopy(HELLO)
    doc["id"] = str(uuid.uuid4())
    doc.update(changes)
    return doc


def timer_graph(seconds: float, name: str = "Slow timer") -> dict[str, Any]:
    """A graph that waits ``seconds`` in a CountdownTimerBlock, then outputs ``message``."""
    return {
        "id": str(uuid.uuid4()),
        "name": name,
        "nodes": [
            {
                "id": "timer",
                "block_id": TIMER_BLOCK,
                "input_default": {"seconds": seconds, "input_message": "done"},
            },
            {"id": "out", "block_id": OUTPUT_BLOCK, "input_default": {"name": "message"}},
        ],
        "links": [
            {"source_id": "timer", "source_name": "output_message", "sink_id": "out", "sink_name": "value"}
        ],
    }


def create_graph(client: httpx.Client, doc: dict[str, Any]) -> dict[str, Any]:
    """POST a graph; the stored graph."""
    r = client.post("/graphs", json=doc)
    assert r.status_code == 201, r.text
    return r.json()


def run_graph(client: httpx.Client, graph_id: str, inputs: dict[str, Any], **body: Any) -> dict[str, Any]:
    """Execute a graph and wait (up to 10 s) for its result."""
    r = client.post(f"/graphs/{graph_id}/execute", params={"wait": 10}, json={"inputs": inputs, **body})
    assert r.status_code == 200, r.text
    return r.json()


def wait_status(
    client: httpx.Client, execution_id: str, statuses: set[str], timeout: float = 10
) -> dict[str, Any]:
    """Poll an execution until its status is one of ``statuses``."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/executions/{execution_id}")
        assert r.status_code == 200, r.text
        body = r.json()
        if body["status"] in statuses:
            return body
        assert time.monotonic() < deadline, f"execution still {body['status']}"
        time.sleep(0.05)


def node_running(
    client: httpx.Client, execution_id: str, node_id: str, timeout: float = 10
) -> dict[str, Any]:
    """Poll an execution until node ``node_id`` is running."""
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/executions/{execution_id}").json()
        if any(n["node_id"] == node_id and n["status"] == "RUNNING" for n in body["node_executions"] or []):
            return body
        assert time.monotonic() < deadline, f"node {node_id} not running: {body}"
        time.sleep(0.05)


# ---- mails and the database ------------------------------------------------------------------------


def mail_log(server: ServerProcess) -> Path:
    """Where the server writes would-be mails (``WORKBENCH_DEV_MAIL_LOG`` of ``configured_server``)."""
    return server.home.parent / "mail.jsonl"


def mailed_tokens(
    server: ServerProcess, email: str, kind: str, count: int = 1, timeout: float = 5
) -> list[str]:
    """The tokens of the mails of ``kind`` ("reset", "verify") sent to ``email``, once there are at
    least ``count`` of them (mails are written in the background, after the answer)."""
    deadline = time.monotonic() + timeout
    while True:
        path = mail_log(server)
        mails = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        found = [m["token"] for m in mails if m["to"] == email and m["kind"] == kind]
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, f"{len(found)} of {count} {kind} mails to {email} in {path}"
        time.sleep(0.05)


def mailed_token(server: ServerProcess, email: str, kind: str, timeout: float = 5) -> str:
    """The token of the last mail of ``kind`` ("reset", "verify") sent to ``email``."""
    return mailed_tokens(server, email, kind, 1, timeout)[-1]


def database_rows_containing(server: ServerProcess, needle: str) -> list[str]:
    """The tables of the server's embedded database that have a row whose text form contains
    ``needle`` (bytea columns appear as hex, so ciphertext and hashes never match a plain secret)."""

    async def scan() -> list[str]:
        conn = await asyncpg.connect(host=str(server.home / "pgdata"), user="postgres", database="workbench")
        try:
            tables = await conn.fetch(
                "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) AS name "
                "FROM pg_tables WHERE schemaname = 'public'"
            )
            hits = []
            for t in tables:
                query = f"SELECT count(*) FROM {t['name']} AS r WHERE strpos(r::text, $1) > 0"
                if await conn.fetchval(query, needle):
                    hits.append(t["name"])
            return hits
        finally:
            await conn.close()

    return asyncio.run(scan())


def database_fetch(server: ServerProcess, query: str, *args: Any) -> list[dict[str, Any]]:
    """Rows of a query on the server's embedded database."""

    async def fetch() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(host=str(server.home / "pgdata"), user="postgres", database="workbench")
        try:
            return [dict(r) for r in await conn.fetch(query, *args)]
        finally:
            await conn.close()

    return asyncio.run(fetch())
