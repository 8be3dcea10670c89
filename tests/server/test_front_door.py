"""The front door of a real server attacked the way a web page (or a page behind DNS rebinding)
would: foreign Host and Origin values, bodies that are not JSON, WebSocket handshakes from other
origins, forwarded addresses, JSON nested 100,000 deep; and what every response and log line must
(security headers) or must never (secrets) contain."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from launch.serve import proxy_options
from server.config import ServerConfig
from server.guard import FrontDoor, split_host
from tests.server.api_support import User, api, check_response, hello_graph, signup
from tests.support.servers import ServerProcess, start_server, stop_server
from workbench.errors import ConfigError

EVIL = "https://evil.example"
CORS_ORIGIN = "https://app.example.com"  # configured_server's WORKBENCH_CORS_ORIGINS
PUBLIC_URL = "https://workbench.example.org"
DEEP = "[" * 100_000 + "]" * 100_000


def port_of(server: ServerProcess) -> int:
    return int(server.base_url.rsplit(":", 1)[1])


def graph_names(server: ServerProcess) -> set[str]:
    with api(server) as c:
        r = c.get("/graphs", params={"limit": 500})
        assert r.status_code == 200
        return {g["name"] for g in r.json()["items"]}


@pytest.fixture(scope="module")
def proxied_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``--auth accounts`` behind a proxy on 127.0.0.1 (trusted), reached as PUBLIC_URL or by an
    extra name, rate limited to 3 requests a minute."""
    server = start_server(
        tmp_path_factory.mktemp("srv-proxied") / "home",
        "accounts",
        {
            "WORKBENCH_RATE_LIMIT": "3/minute",
            "WORKBENCH_TRUSTED_PROXIES": "127.0.0.1",
            "WORKBENCH_PUBLIC_URL": PUBLIC_URL,
            "WORKBENCH_ALLOWED_HOSTS": "workbench.internal",
        },
    )
    yield server
    stop_server(server)


# ---- pages posting to the local server ---------------------------------------------------------------


def test_a_page_cannot_create_graphs_with_text_or_form_bodies(local_server: ServerProcess) -> None:
    """What a <form> or a no-preflight fetch() can send: refused, and nothing is created."""
    name = f"planted-{uuid.uuid4().hex[:8]}"
    body = json.dumps(hello_graph(name=name))
    with api(local_server) as c:
        for kind in ("text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded"):
            r = c.post("/graphs", content=body, headers={"content-type": kind, "origin": EVIL})
            assert r.status_code == 403, kind
            assert "evil.example" in r.json()["error"]["message"]
            # Without an Origin (not a browser) the body is still not JSON: 415, saying what to send.
            r = c.post("/graphs", content=body, headers={"content-type": kind})
            assert r.status_code == 415, kind
            assert r.json()["error"]["code"] == "unsupported_media_type"
            assert "application/json" in r.json()["error"]["message"]
        r = c.post("/graphs", content=body)  # no Content-Type at all
        assert r.status_code == 415
        r = c.post("/graphs", files={"file": ("g.json", body.encode(), "application/json")})
        assert r.status_code == 415  # multipart is for uploads; this route takes JSON
        # A route that reads no body refuses a non-JSON one too.
        r = c.post(f"/executions/{uuid.uuid4()}/cancel", content=b"x", headers={"content-type": "text/plain"})
        assert r.status_code == 415
    assert name not in graph_names(local_server)


def test_a_foreign_origin_is_refused_even_with_json(local_server: ServerProcess) -> None:
    own_origin = local_server.base_url
    with api(local_server) as c:
        refused = {
            "foreign origin": {"origin": EVIL},
            "foreign origin with a port": {"origin": f"http://evil.example:{port_of(local_server)}"},
            "other local port": {"origin": "http://127.0.0.1:1"},
            "opaque origin": {"origin": "null"},
            "malformed origin": {"origin": "http://[::1"},
            "cross-site fetch metadata": {"sec-fetch-site": "cross-site"},
            "same origin but cross-site": {"origin": own_origin, "sec-fetch-site": "cross-site"},
        }
        names = {}
        for why, headers in refused.items():
            names[why] = f"refused-{uuid.uuid4().hex[:8]}"
            r = c.post("/graphs", json=hello_graph(name=names[why]), headers=headers)
            assert r.status_code == 403, why
            assert r.json()["error"]["code"] == "forbidden"
        r = c.post(f"/executions/{uuid.uuid4()}/cancel", headers={"origin": EVIL})
        assert r.status_code == 403  # no body: still a change, still refused
        r = c.delete(f"/graphs/{uuid.uuid4()}", headers={"origin": EVIL})
        assert r.status_code == 403

        accepted = {
            "same origin": {"origin": own_origin, "sec-fetch-site": "same-origin"},
            "no origin": {},
            "json subtype": {"content-type": "application/vnd.workbench+json"},
        }
        for why, headers in accepted.items():
            names[why] = f"accepted-{uuid.uuid4().hex[:8]}"
            doc = hello_graph(name=names[why])
            if "content-type" in headers:
                r = c.post("/graphs", content=json.dumps(doc), headers=headers)
            else:
                r = c.post("/graphs", json=doc, headers=headers)
            assert r.status_code == 201, (why, r.text)
        # Reading is not refused (the browser keeps the answer from the page: no CORS headers).
        r = c.get("/graphs", headers={"origin": EVIL})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    stored = graph_names(local_server)
    assert {names[w] for w in accepted} <= stored
    assert not {names[w] for w in refused} & stored


def test_dns_rebinding_a_foreign_host_is_refused(local_server: ServerProcess) -> None:
    port = port_of(local_server)
    name = f"rebound-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=local_server.base_url, event_hooks={"response": [check_response]}) as c:
        for host in (
            f"evil.example:{port}",
            "evil.example",
            f"127.0.0.1.evil.example:{port}",
            "[2001:db8::1]",
        ):
            r = c.get("/api/v1/graphs", headers={"host": host})
            assert r.status_code == 403, host
            assert "Host" in r.json()["error"]["message"]
            r = c.post("/api/v1/graphs", json=hello_graph(name=name), headers={"host": host})
            assert r.status_code == 403, host
            assert c.get("/api/docs", headers={"host": host}).status_code == 403
        for host in (
            f"localhost:{port}",
            f"127.0.0.1:{port}",
            f"127.0.0.2:{port}",
            f"[::1]:{port}",
            "LOCALHOST",
        ):
            assert c.get("/api/v1/graphs", headers={"host": host}).status_code == 200, host
    assert name not in graph_names(local_server)


def test_accounts_mode_refuses_foreign_hosts_and_origins_but_not_listed_ones(
    configured_server: ServerProcess,
) -> None:
    user = signup(configured_server, "door")
    try:
        port = port_of(configured_server)
        r = user.client.get("/graphs", headers={"host": f"evil.example:{port}"})
        assert r.status_code == 403
        r = user.client.post("/graphs", json=hello_graph(), headers={"origin": EVIL})
        assert r.status_code == 403
        r = user.client.post("/graphs", json=hello_graph(), headers={"origin": CORS_ORIGIN})
        assert r.status_code == 201  # WORKBENCH_CORS_ORIGINS
        assert r.headers["access-control-allow-origin"] == CORS_ORIGIN
        r = user.client.post(
            "/graphs",
            json=hello_graph(),
            headers={"origin": CORS_ORIGIN, "sec-fetch-site": "cross-site"},
        )
        assert r.status_code == 201  # listed: cross-site is what CORS is for
    finally:
        user.close()


def test_public_url_and_allowed_hosts_are_accepted(proxied_server: ServerProcess) -> None:
    port = port_of(proxied_server)
    with api(proxied_server) as c:
        for host in ("workbench.example.org", "workbench.internal", f"workbench.internal:{port}"):
            assert c.get("/health", headers={"host": host}).status_code == 200, host
        assert c.get("/health", headers={"host": "evil.example"}).status_code == 403
        # The public URL's pages may post (reaching authentication: 401), others may not.
        r = c.post(
            "/auth/login",
            json={"email": "x@example.com", "password": "wrong password"},
            headers={"origin": PUBLIC_URL, "host": "workbench.example.org"},
        )
        assert r.status_code == 401
        r = c.post(
            "/auth/login",
            json={"email": "x@example.com", "password": "wrong password"},
            headers={"origin": EVIL},
        )
        assert r.status_code == 403


# ---- WebSocket handshakes ------------------------------------------------------------------------------


async def test_a_websocket_from_a_foreign_origin_is_refused(local_server: ServerProcess) -> None:
    for origin in (EVIL, "null", "http://localhost:1"):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(local_server.ws_url, origin=origin, open_timeout=10):  # type: ignore[arg-type]
                pass
        response = refused.value.response
        assert response.status_code == 403, origin
        error = json.loads(response.body)["error"]
        assert error["code"] == "forbidden" and "origin" in error["message"].lower()
        assert response.headers["x-content-type-options"] == "nosniff"
    for origin in (None, local_server.base_url):  # not a browser; this server's own page
        async with connect(local_server.ws_url, origin=origin, open_timeout=10) as ws:  # type: ignore[arg-type]
            await ws.send(json.dumps({"action": "ping"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "pong"}


def raw_handshake(server: ServerProcess, host: str) -> str:
    """The status line of a WebSocket handshake sent with ``host`` as its Host header."""
    key = base64.b64encode(uuid.uuid4().bytes).decode()
    request = (
        f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=10) as s:
        s.sendall(request.encode())
        return s.recv(4096).decode("latin-1").split("\r\n", 1)[0]


def test_a_websocket_with_a_foreign_host_is_refused(local_server: ServerProcess) -> None:
    port = port_of(local_server)
    assert " 403 " in raw_handshake(local_server, f"evil.example:{port}") + " "
    assert " 101 " in raw_handshake(local_server, f"localhost:{port}") + " "


async def test_a_listed_origin_may_open_a_websocket(configured_server: ServerProcess) -> None:
    user = signup(configured_server, "wsdoor")
    try:
        url = f"{configured_server.ws_url}?token={user.access_token}"
        async with connect(url, origin=CORS_ORIGIN, open_timeout=10) as ws:  # type: ignore[arg-type]
            await ws.send(json.dumps({"action": "ping"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "pong"}
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, origin=EVIL, open_timeout=10):  # type: ignore[arg-type]
                pass
        assert refused.value.response.status_code == 403
    finally:
        user.close()


# ---- forwarded addresses --------------------------------------------------------------------------


def test_x_forwarded_for_does_not_escape_the_rate_limit(limited_server: ServerProcess) -> None:
    """5 requests a minute per client and route: a client naming a new address each time is still
    the same client (no proxy is trusted by default)."""
    with api(limited_server) as anonymous:
        codes = [
            anonymous.post(
                "/auth/verify-email", json={"token": "bogus"}, headers={"x-forwarded-for": f"203.0.113.{i}"}
            ).status_code
            for i in range(1, 8)
        ]
    assert 429 not in codes[:5] and codes[5:] == [429, 429], codes


def test_x_forwarded_for_is_believed_from_a_trusted_proxy(proxied_server: ServerProcess) -> None:
    with api(proxied_server) as anonymous:

        def verify(address: str) -> int:
            return anonymous.post(
                "/auth/verify-email", json={"token": "bogus"}, headers={"x-forwarded-for": address}
            ).status_code

        assert 429 not in [verify(f"198.51.100.{i}") for i in range(1, 6)]  # five clients
        assert [verify("198.51.100.200") for _ in range(4)][-1] == 429  # one client, 3 a minute


# ---- JSON nested 100,000 deep --------------------------------------------------------------------


def test_json_nested_100000_deep_is_400_on_every_body(local_server: ServerProcess) -> None:
    with api(local_server) as c:
        for method, path in (
            ("POST", "/graphs"),
            ("PUT", f"/graphs/{uuid.uuid4()}"),
            ("POST", f"/graphs/{uuid.uuid4()}/execute"),
            ("POST", "/credentials"),
            ("POST", f"/blocks/{uuid.uuid4()}/execute"),
        ):
            r = c.request(method, path, content=DEEP, headers={"content-type": "application/json"})
            assert r.status_code == 400, (method, path, r.text)
            assert "nested too deeply" in r.json()["error"]["message"]
        r = c.post("/graphs", content='{"name": ' + DEEP + "}", headers={"content-type": "application/json"})
        assert r.status_code == 400
        # A JSON form field of an upload, parsed by the route itself: 400 all the same.
        kb = c.post("/knowledge", json={"name": f"deep-{uuid.uuid4().hex[:8]}"})
        assert kb.status_code == 201, kb.text
        r = c.post(
            f"/knowledge/{kb.json()['id']}/documents",
            files={"file": ("a.txt", b"some text")},
            data={"metadata": DEEP},
        )
        assert r.status_code == 400 and "nested too deeply" in r.json()["error"]["message"]
        assert c.get("/health").status_code == 200


async def test_json_nested_100000_deep_over_the_websocket(local_server: ServerProcess) -> None:
    async with connect(local_server.ws_url, open_timeout=10, max_size=None) as ws:

        async def answer(frame: str) -> dict[str, Any]:
            await ws.send(frame)
            return json.loads(await asyncio.wait_for(ws.recv(), 10))

        error = await answer(DEEP)
        assert error["type"] == "error" and error["message"].startswith("frames must be JSON")
        assert "depth" in error["message"]
        # Deep, but within what the parser takes: a clear error, never "internal error".
        nested = "[" * 1000 + "]" * 1000
        error = await answer('{"action": "subscribe", "execution_id": ' + nested + "}")
        assert error == {"type": "error", "message": "execution_id must be a UUID (a string)"}
        assert (await answer(nested))["type"] == "error"
        assert await answer(json.dumps({"action": "ping"})) == {"type": "pong"}


# ---- response headers ------------------------------------------------------------------------------


def assert_security_headers(response: httpx.Response) -> str:
    where = f"{response.request.method} {response.request.url} -> {response.status_code}"
    assert response.headers.get("x-content-type-options") == "nosniff", where
    assert response.headers.get("referrer-policy") == "no-referrer", where
    assert response.headers.get("x-frame-options") == "DENY", where
    csp = response.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp, where
    return csp


def test_every_response_has_security_headers(
    local_server: ServerProcess, configured_server: ServerProcess
) -> None:
    with httpx.Client(base_url=local_server.base_url, event_hooks={"response": [check_response]}) as c:
        for response in (
            c.get("/api/v1/graphs"),
            c.get("/api/v1/health"),
            c.get("/api/v1/no/such/route"),
            c.patch("/api/v1/health"),
            c.post("/api/v1/graphs", json={"nodes": 1}),
            c.post("/api/v1/graphs", content=b"x", headers={"content-type": "text/plain"}),
            c.get("/api/v1/graphs", headers={"host": "evil.example"}),
            c.get("/api/openapi.json"),
        ):
            assert assert_security_headers(response).startswith("default-src 'none'")
    with httpx.Client(base_url=configured_server.base_url) as c:
        preflight = c.options(
            "/api/v1/graphs", headers={"origin": CORS_ORIGIN, "access-control-request-method": "POST"}
        )
        assert preflight.status_code in (200, 204)
        assert_security_headers(preflight)
        assert_security_headers(c.get("/api/v1/graphs"))  # 401


def test_the_docs_page_gets_a_policy_that_lets_it_work(local_server: ServerProcess) -> None:
    r = httpx.get(local_server.base_url + "/api/docs", timeout=30)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = assert_security_headers(r)
    directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
    scripts = directives["script-src"]
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    # Exactly the page's external scripts, and its inline one by hash.
    external = re.findall(r"<script src=\"([^\"]+)\"", r.text)
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", r.text, re.DOTALL)
    assert external and inline
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'" for s in inline
    ]
    # Its scripts are served by this server ('self', no CDN), its inline one allowed by hash.
    assert all(src.startswith("/") and not src.startswith("//") for src in external), external
    assert sorted(scripts) == sorted(["'self'", *hashes])
    stylesheet = re.search(r"<link href=\"([^\"]+)\" rel=\"stylesheet\"", r.text)
    assert stylesheet and stylesheet.group(1).startswith("/")
    assert directives["style-src"] == ["'self'", "'unsafe-inline'"]
    assert directives["img-src"] == ["'self'", "data:"]
    assert directives["connect-src"] == ["'self'"]
    assert directives["default-src"] == ["'none'"]


# ---- secrets in logs -------------------------------------------------------------------------------


async def test_no_secret_reaches_the_log(configured_server: ServerProcess) -> None:
    """The server logs at debug level: WebSocket URLs with ?token= and ?api_key=, bearer headers
    and passwords are all in its requests, and none of them may appear in its log."""
    user: User = signup(configured_server, "secrets")
    try:
        key, _ = user.key("graphs:read")
        bogus = f"not-a-token-{uuid.uuid4().hex}"
        async with connect(f"{configured_server.ws_url}?api_key={key}", open_timeout=10):
            pass
        async with connect(f"{configured_server.ws_url}?token={user.access_token}&x=1", open_timeout=10):
            pass
        with pytest.raises(InvalidStatus):
            async with connect(f"{configured_server.ws_url}?token={bogus}", open_timeout=10):
                pass
        with api(configured_server, api_key=key) as by_key:
            assert by_key.get("/graphs", params={"api_key": key}).status_code == 200
        with api(configured_server) as anonymous:
            r = anonymous.post("/auth/login", json={"email": user.email, "password": user.password})
            assert r.status_code == 200
        secrets = [key, user.access_token, user.refresh_token, bogus, user.password]
        deadline = time.monotonic() + 5
        while True:
            text = configured_server.log.read_text()
            if text.count("/ws?") >= 3 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        # The handshakes are still in the log, their credentials redacted.
        assert "/ws?api_key=[REDACTED]" in text
        assert "/ws?token=[REDACTED]&x=1" in text
        for secret in secrets:
            leaks = [line for line in text.splitlines() if secret in line]
            assert not leaks, f"{secret[:12]}... logged: {leaks[:3]}"
    finally:
        user.close()


# ---- the rules themselves -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("127.0.0.1:8006", ("127.0.0.1", "8006")),
        ("LocalHost.", ("localhost", "")),
        ("[::1]:8006", ("::1", "8006")),
        ("[::1]", ("::1", "")),
        ("evil.example:80", ("evil.example", "80")),
    ],
)
def test_host_headers_are_split(header: str, expected: tuple[str, str]) -> None:
    assert split_host(header) == expected


def test_which_hosts_and_origins_a_server_accepts() -> None:
    local = FrontDoor(ServerConfig())
    for host in (
        "localhost",
        "localhost:8006",
        "127.0.0.1",
        "127.9.9.9:1",
        "[::1]:8006",
        "[::ffff:127.0.0.1]",
    ):
        assert local.host_allowed(host), host
    for host in ("evil.example", "localhost.evil.example", "10.0.0.1:8006", "[2001:db8::1]:8006", "0.0.0.0"):
        assert not local.host_allowed(host), host
    assert local.origin_problem(None, None, "127.0.0.1:8006") is None
    assert local.origin_problem("http://127.0.0.1:8006", "same-origin", "127.0.0.1:8006") is None
    assert local.origin_problem("http://localhost:8006", None, "127.0.0.1:8006") is not None
    assert local.origin_problem("https://127.0.0.1:8006", None, "127.0.0.1:8006") is None  # same host:port
    assert local.origin_problem("http://127.0.0.1", None, "127.0.0.1:8006") is not None
    assert local.origin_problem(None, "cross-site", "127.0.0.1:8006") is not None
    assert local.origin_problem("null", None, "127.0.0.1:8006") is not None

    behind = FrontDoor(
        ServerConfig(
            auth="accounts",
            host="0.0.0.0",
            public_url="https://Workbench.Example.org/",
            allowed_hosts=("workbench.internal",),
            cors_origins=("https://app.example.com",),
        )
    )
    for host in ("workbench.example.org", "workbench.internal:8006", "localhost:8006"):
        assert behind.host_allowed(host), host
    assert not behind.host_allowed("0.0.0.0:8006") and not behind.host_allowed("evil.example")
    # The public origin as the browser sees it, while the proxy forwards another Host.
    assert behind.origin_problem("https://workbench.example.org", "same-origin", "10.0.0.5:8006") is None
    assert behind.origin_problem("https://app.example.com", "cross-site", "workbench.example.org") is None
    assert behind.origin_problem("https://app.example.com:8443", None, "workbench.example.org") is not None
    assert FrontDoor(ServerConfig(auth="accounts", allowed_hosts=("*",))).host_allowed("anything.example")


def test_settings_of_the_front_door(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_ALLOWED_HOSTS", "*")
    with pytest.raises(ConfigError, match="DNS rebinding"):
        ServerConfig.from_env(auth="none")
    assert ServerConfig.from_env(auth="accounts").allowed_hosts == ("*",)
    monkeypatch.delenv("WORKBENCH_ALLOWED_HOSTS")
    monkeypatch.setenv("WORKBENCH_TRUSTED_PROXIES", "10.0.0.5, 10.1.0.0/16")
    config = ServerConfig.from_env()
    assert proxy_options(config) == {"proxy_headers": True, "forwarded_allow_ips": "10.0.0.5,10.1.0.0/16"}
    monkeypatch.setenv("WORKBENCH_TRUSTED_PROXIES", "my-proxy")
    with pytest.raises(ConfigError, match="WORKBENCH_TRUSTED_PROXIES"):
        ServerConfig.from_env()
    monkeypatch.delenv("WORKBENCH_TRUSTED_PROXIES")
    assert proxy_options(ServerConfig.from_env()) == {"proxy_headers": False}
