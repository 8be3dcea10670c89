"""Middleware of a real server: request ids (on responses and log lines), no-cache headers, CORS,
body size limit, rate limiting per user and route, and refusing to serve without accounts on a
public address."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from tests.server.api_support import NO_CACHE, User, api, create_graph, hello_graph, signup
from tests.support.servers import ROOT, ServerProcess, free_port

ORIGIN = "https://app.example.com"

# ---- request ids and cache headers -----------------------------------------------------------------


def test_every_response_has_a_request_id_and_a_sane_one_sent_is_kept(
    alice: User, accounts_server: ServerProcess
) -> None:
    c = alice.client
    ids = {c.get("/graphs").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3  # a new one each time

    mine = f"trace-{uuid.uuid4().hex}"
    r = c.get("/graphs", headers={"X-Request-ID": mine})
    assert r.headers["x-request-id"] == mine
    r = c.get(f"/graphs/{uuid.uuid4()}", headers={"X-Request-ID": mine})
    assert r.status_code == 404 and r.json()["error"]["request_id"] == mine

    too_long = "x" * 65
    r = c.get("/graphs", headers={"X-Request-ID": too_long})
    assert r.headers["x-request-id"] != too_long and 0 < len(r.headers["x-request-id"]) <= 64

    # Errors raised before any route handler runs carry it too (check_response checks the body's).
    with api(accounts_server) as anonymous:
        assert anonymous.get("/graphs", headers={"X-Request-ID": mine}).headers["x-request-id"] == mine
        for r in (
            anonymous.get("/no/such/route"),
            anonymous.patch("/health"),
            anonymous.get("/graphs", headers={"Authorization": "Bearer nonsense"}),
        ):
            assert r.status_code in (401, 404, 405)
            assert r.headers["x-request-id"]


def test_api_responses_are_not_cacheable(alice: User) -> None:
    graph = create_graph(alice.client, hello_graph())
    for r in (
        alice.client.get("/graphs"),
        alice.client.get(f"/graphs/{graph['id']}"),
        alice.client.get("/health"),
        alice.client.get("/blocks"),
        alice.client.post("/graphs", json={"nodes": 1}),
        alice.client.get("/nope"),
    ):
        for key, value in NO_CACHE.items():
            assert r.headers.get(key) == value, (r.request.url, key)


def test_log_lines_are_json_with_the_request_id(configured_server: ServerProcess) -> None:
    mine = f"log-{uuid.uuid4().hex}"
    user = signup(configured_server, "logs")
    try:
        user.client.get("/graphs", headers={"X-Request-ID": mine})
        user.client.get(f"/graphs/{uuid.uuid4()}", headers={"X-Request-ID": mine + "-404"})
        with api(configured_server) as anonymous:
            anonymous.get("/graphs", headers={"X-Request-ID": mine + "-401"})
        deadline = time.monotonic() + 5
        while True:
            lines = [
                json.loads(line)
                for line in configured_server.log.read_text().splitlines()
                if line.startswith("{")
            ]
            access = {
                rec["request_id"]: rec
                for rec in lines
                if rec.get("logger") == "server.access" and "request_id" in rec
            }
            if {mine, mine + "-404", mine + "-401"} <= set(access) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert access[mine]["status"] == 200 and access[mine]["path"] == "/api/v1/graphs"
        assert access[mine]["user_id"] == user.id and access[mine]["duration_ms"] >= 0
        assert access[mine + "-404"]["status"] == 404
        assert access[mine + "-401"]["status"] == 401  # refused by the auth middleware: logged all the same
        assert all({"ts", "level", "logger", "message"} <= set(rec) for rec in lines)
    finally:
        user.close()


# ---- CORS --------------------------------------------------------------------------------------


def test_cors_is_closed_by_default(accounts_server: ServerProcess) -> None:
    with httpx.Client(base_url=accounts_server.base_url) as raw:
        r = raw.get("/api/v1/health", headers={"Origin": ORIGIN})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
        r = raw.options("/api/v1/graphs", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
        assert r.status_code < 500 and "access-control-allow-origin" not in r.headers


def test_cors_allows_a_configured_origin_only(configured_server: ServerProcess) -> None:
    with httpx.Client(base_url=configured_server.base_url) as raw:
        r = raw.get("/api/v1/health", headers={"Origin": ORIGIN})
        assert r.headers["access-control-allow-origin"] == ORIGIN
        preflight = raw.options(
            "/api/v1/graphs",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code in (200, 204)
        assert preflight.headers["access-control-allow-origin"] == ORIGIN
        assert "POST" in preflight.headers["access-control-allow-methods"]
        allowed_headers = preflight.headers["access-control-allow-headers"].lower()
        assert "authorization" in allowed_headers or allowed_headers == "*"
        assert "access-control-allow-credentials" not in preflight.headers

        other = "https://evil.example.net"
        r = raw.get("/api/v1/health", headers={"Origin": other})
        assert r.headers.get("access-control-allow-origin") not in (other, "*")
        r = raw.options("/api/v1/graphs", headers={"Origin": other, "Access-Control-Request-Method": "POST"})
        assert r.headers.get("access-control-allow-origin") not in (other, "*")


# ---- body size ----------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_413(configured_server: ServerProcess) -> None:
    user = signup(configured_server, "big")
    try:
        doc = hello_graph(description="x" * 40_000)
        assert user.client.post("/graphs", json=doc).status_code == 201  # under the 64 KB limit
        big = hello_graph(description="x" * 49_000, name="y" * 400)
        big["nodes"][0]["metadata"] = {"blob": "z" * 30_000}
        r = user.client.post("/graphs", json=big)
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "payload_too_large"

        def chunks() -> object:  # no Content-Length: the limit holds for a streamed body too
            yield b'{"name": "'
            for _ in range(100):
                yield b"a" * 1000
            yield b'"}'

        r = user.client.post("/graphs", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert user.client.get("/graphs").json()["total"] == 1
    finally:
        user.close()


# ---- rate limiting ------------------------------------------------------------------------------


def test_rate_limit_is_per_user_and_route_with_retry_after(limited_server: ServerProcess) -> None:
    """5 requests a minute per user and route on this server."""
    erin, frank = signup(limited_server, "erin"), signup(limited_server, "frank")
    try:
        for _ in range(5):
            assert erin.client.get("/graphs").status_code == 200
        r = erin.client.get("/graphs")
        assert r.status_code == 429
        assert r.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert r.headers["ratelimit-limit"] == "5" and r.headers["ratelimit-remaining"] == "0"

        assert frank.client.get("/graphs").status_code == 200  # another user
        assert erin.client.get("/executions").status_code == 200  # another route
        # One route whatever its path parameters.
        for _ in range(5):
            assert erin.client.get(f"/graphs/{uuid.uuid4()}").status_code == 404
        assert erin.client.get(f"/graphs/{uuid.uuid4()}").status_code == 429
        # Health is never limited.
        with api(limited_server) as anonymous:
            for _ in range(8):
                assert anonymous.get("/health").status_code == 200
    finally:
        erin.close()
        frank.close()


def test_rate_limit_counts_an_api_key_as_its_user(limited_server: ServerProcess) -> None:
    grace = signup(limited_server, "grace")
    try:
        key, _ = grace.key("blocks:read")
        with api(limited_server, api_key=key) as by_key:
            for _ in range(3):
                assert by_key.get("/blocks/db7d8f02-2f44-4c55-ab7a-eae0941f0c30").status_code == 200
        for _ in range(2):
            assert grace.client.get("/blocks/db7d8f02-2f44-4c55-ab7a-eae0941f0c30").status_code == 200
        assert grace.client.get("/blocks/db7d8f02-2f44-4c55-ab7a-eae0941f0c30").status_code == 429
    finally:
        grace.close()


# ---- refusing unsafe configurations --------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_no_login_mode_refuses_a_public_address(tmp_path: object, host: str) -> None:
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    env.pop("WORKBENCH_AUTH", None)
    proc = subprocess.run(
        [sys.executable, "-m", "launch.cli", "serve", "--host", host, "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 3, proc.stderr
    assert f"refusing to listen on {host} without accounts" in proc.stderr
    assert "--auth accounts" in proc.stderr and "127.0.0.1" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_bad_rate_limit_setting_is_refused_clearly(tmp_path: object) -> None:
    env = {
        **os.environ,
        "WORKBENCH_HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "WORKBENCH_RATE_LIMIT": "lots",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "launch.cli", "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 3
    assert "WORKBENCH_RATE_LIMIT" in proc.stderr and "100/second" in proc.stderr
