"""Webhook triggers over HTTP, on real ``workbench serve`` processes: /api/v1/triggers to manage them,
POST /api/v1/hooks/{id} called without a login, as a sender (GitHub, Stripe, a script) would.

Every response goes through ``check_response`` (the error shape, request ids, WWW-Authenticate on 401,
Retry-After on 429)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx

from tests.server.api_support import (
    INPUT_BLOCK,
    OUTPUT_BLOCK,
    User,
    api,
    create_graph,
    database_rows_containing,
    hello_graph,
    signup,
    wait_status,
)
from tests.support.servers import ServerProcess
from workbench.services.trigger_signing import sign


def raw(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def call(
    server: ServerProcess,
    path: str,
    content: bytes,
    headers: dict[str, str] | None = None,
    **params: Any,
) -> httpx.Response:
    """A webhook call, as a sender makes it: no login, no Origin, the exact bytes that were signed."""
    with api(server) as sender:
        return sender.post(
            path.removeprefix("/api/v1"),
            content=content,
            headers={"Content-Type": "application/json", **(headers or {})},
            params=params,
        )


def signed(secret: str, content: bytes, timestamp: int | None = None) -> dict[str, str]:
    return sign(secret, content, timestamp=timestamp)


def runs_of(user: User, graph_id: str) -> int:
    r = user.client.get("/executions", params={"graph_id": graph_id})
    assert r.status_code == 200, r.text
    return r.json()["total"]


def make_trigger(user: User, **fields: Any) -> dict[str, Any]:
    r = user.client.post("/triggers", json=fields)
    assert r.status_code == 201, r.text
    return r.json()


def echo_graph() -> dict[str, Any]:
    """A graph with one required input ``who`` (no default), echoed to output ``out``."""
    return {
        "id": str(uuid.uuid4()),
        "name": "Echo",
        "nodes": [
            {"id": "who", "block_id": INPUT_BLOCK, "input_default": {"name": "who"}},
            {"id": "out", "block_id": OUTPUT_BLOCK, "input_default": {"name": "out"}},
        ],
        "links": [{"source_id": "who", "source_name": "result", "sink_id": "out", "sink_name": "value"}],
    }


def test_a_signed_call_runs_the_agent_and_a_forged_or_replayed_one_starts_nothing(
    accounts_server: ServerProcess, alice: User
) -> None:
    graph = create_graph(alice.client, hello_graph())
    trigger = make_trigger(alice, graph_id=graph["id"], name="greeter")
    secret, path = trigger["secret"], trigger["path"]
    assert secret.startswith("wbh_") and path == f"/api/v1/hooks/{trigger['id']}"
    assert trigger["url"] == accounts_server.base_url + path and trigger["auth_mode"] == "hmac"
    shown = [alice.client.get(f"/triggers/{trigger['id']}"), alice.client.get("/triggers")]
    assert all(r.status_code == 200 and secret not in r.text and "secret" not in r.json() for r in shown)

    body = raw({"name": "Ada"})
    forged = [
        {},
        signed("wbh_" + "A" * 43, body),
        signed(secret, raw({"name": "Mallory"})),
        signed(secret, body, int(time.time()) - 400),
    ]
    for headers in forged:
        r = call(accounts_server, path, body, headers)
        assert r.status_code == 401, r.text
        assert secret not in r.text
    assert runs_of(alice, graph["id"]) == 0

    good = signed(secret, body)
    r = call(accounts_server, path, body, good)
    assert r.status_code == 202, r.text
    started = r.json()
    assert started["trigger_id"] == trigger["id"] and started["status"] in {"QUEUED", "RUNNING", "COMPLETED"}
    run = wait_status(alice.client, started["execution_id"], {"COMPLETED"})
    assert run["inputs"] == {"name": "Ada"} and run["outputs"]["greeting"] == ["Hello, Ada!"]
    replay = call(accounts_server, path, body, good)
    assert replay.status_code == 401 and "replay" in replay.json()["error"]["message"]

    body = raw({"name": "Grace"})
    r = call(accounts_server, path, body, signed(secret, body), wait=10)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "COMPLETED" and r.json()["outputs"] == {
        "greeting": ["Hello, Grace!"],
        "length": [13],
    }
    assert runs_of(alice, graph["id"]) == 2
    after = alice.client.get(f"/triggers/{trigger['id']}").json()
    assert after["fire_count"] == 2 and after["last_execution_id"] == r.json()["execution_id"]

    missing = call(accounts_server, f"/api/v1/hooks/{uuid.uuid4()}", body, signed(secret, body))
    assert missing.status_code == 404


def test_bearer_triggers_mappings_and_inputs(accounts_server: ServerProcess, alice: User) -> None:
    echo = create_graph(alice.client, echo_graph())
    trigger = make_trigger(
        alice, graph_id=echo["id"], auth_mode="bearer", input_mapping={"who": "sender.login"}
    )
    path, secret = trigger["path"], trigger["secret"]
    payload = raw({"action": "opened", "sender": {"login": "octocat"}, "repository": {"id": 1}})
    wrong = call(accounts_server, path, payload, {"Authorization": "Bearer wbh_not-the-secret"})
    assert wrong.status_code == 401
    r = call(accounts_server, path, payload, {"Authorization": f"Bearer {secret}"}, wait=10)
    assert r.status_code == 200, r.text
    assert r.json()["outputs"] == {"out": ["octocat"]}
    lacking = call(accounts_server, path, raw({"action": "closed"}), {"Authorization": f"Bearer {secret}"})
    assert lacking.status_code == 422
    assert (
        "'who'" in lacking.json()["error"]["message"] and "sender.login" in lacking.json()["error"]["message"]
    )

    hello = create_graph(alice.client, hello_graph())
    plain = make_trigger(alice, graph_id=hello["id"])
    body = raw({"name": "Ada", "colour": "red"})
    r = call(accounts_server, plain["path"], body, signed(plain["secret"], body))
    assert r.status_code == 422 and "'colour'" in r.json()["error"]["message"]
    body = b"name=Ada"
    r = call(
        accounts_server, plain["path"], body, {**signed(plain["secret"], body), "Content-Type": "text/plain"}
    )
    assert r.status_code == 415
    body = b"{broken"
    assert call(accounts_server, plain["path"], body, signed(plain["secret"], body)).status_code == 400
    assert runs_of(alice, hello["id"]) == 0

    bad = alice.client.post(
        "/triggers",
        json={"graph_id": hello["id"], "input_mapping": {"nope": "a..b"}, "rate_limit_per_minute": 0},
    )
    assert bad.status_code == 422
    keys = {d["key"] for d in bad.json()["error"]["details"]}
    assert keys == {"input_mapping.nope", "rate_limit_per_minute"}


def test_rate_limit_disabling_and_rotation(accounts_server: ServerProcess, alice: User) -> None:
    graph = create_graph(alice.client, hello_graph())
    trigger = make_trigger(alice, graph_id=graph["id"], rate_limit_per_minute=2)
    path, secret = trigger["path"], trigger["secret"]
    for name in ("one", "two"):
        body = raw({"name": name})
        assert call(accounts_server, path, body, signed(secret, body)).status_code == 202
    body = raw({"name": "three"})
    limited = call(accounts_server, path, body, signed(secret, body))
    assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 30
    assert runs_of(alice, graph["id"]) == 2

    r = alice.client.patch(
        f"/triggers/{trigger['id']}", json={"enabled": False, "rate_limit_per_minute": 100}
    )
    assert r.status_code == 200 and r.json()["enabled"] is False and r.json()["rate_limit_per_minute"] == 100
    body = raw({"name": "off"})
    assert call(accounts_server, path, body, signed(secret, body)).status_code == 409
    assert call(accounts_server, path, body, {}).status_code == 401  # strangers learn nothing more
    assert alice.client.patch(f"/triggers/{trigger['id']}", json={"enabled": True}).status_code == 200

    rotated = alice.client.post(f"/triggers/{trigger['id']}/rotate-secret")
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret != secret
    body = raw({"name": "rotated"})
    assert call(accounts_server, path, body, signed(secret, body)).status_code == 401
    assert call(accounts_server, path, body, signed(new_secret, body)).status_code == 202

    assert alice.client.delete(f"/triggers/{trigger['id']}").status_code == 204
    body = raw({"name": "gone"})
    assert call(accounts_server, path, body, signed(new_secret, body)).status_code == 404
    assert runs_of(alice, graph["id"]) == 3


def test_another_user_cannot_see_or_change_a_trigger(
    accounts_server: ServerProcess, alice: User, bob: User
) -> None:
    graph = create_graph(alice.client, hello_graph())
    trigger = make_trigger(alice, graph_id=graph["id"])
    tid = trigger["id"]
    assert bob.client.get(f"/triggers/{tid}").status_code == 404
    assert bob.client.patch(f"/triggers/{tid}", json={"enabled": False}).status_code == 404
    assert bob.client.post(f"/triggers/{tid}/rotate-secret").status_code == 404
    assert bob.client.delete(f"/triggers/{tid}").status_code == 404
    assert tid not in bob.client.get("/triggers").text
    assert bob.client.post("/triggers", json={"graph_id": graph["id"]}).status_code == 422
    assert alice.client.get(f"/triggers/{tid}").json()["enabled"] is True

    key, _ = alice.key("graphs:read", "graphs:write")
    with api(accounts_server, api_key=key) as limited:
        refused = limited.post("/triggers", json={"graph_id": graph["id"]})
        assert refused.status_code == 403 and "graphs:execute" in refused.json()["error"]["message"]
        assert limited.get("/triggers").status_code == 200
    with api(accounts_server) as anonymous:
        assert anonymous.get("/triggers").status_code == 401


def test_secrets_never_reach_the_log_or_the_database(configured_server: ServerProcess) -> None:
    user = signup(configured_server, "hooks")
    try:
        graph = create_graph(user.client, hello_graph())
        hmac_trigger = make_trigger(user, graph_id=graph["id"])
        bearer_trigger = make_trigger(user, graph_id=graph["id"], auth_mode="bearer")
        rotated = user.client.post(f"/triggers/{hmac_trigger['id']}/rotate-secret").json()
        secrets = [hmac_trigger["secret"], bearer_trigger["secret"], rotated["secret"]]
        body = raw({"name": "Ada"})
        call(configured_server, rotated["path"], body, signed(rotated["secret"], body))
        call(configured_server, rotated["path"], body, signed(hmac_trigger["secret"], body))  # refused
        call(
            configured_server,
            bearer_trigger["path"],
            body,
            {"Authorization": f"Bearer {bearer_trigger['secret']}"},
        )
        call(configured_server, bearer_trigger["path"], body, {"Authorization": f"Bearer {secrets[0]}"})
        user.client.get("/triggers")
        log = configured_server.log.read_text()
        assert f"/api/v1/hooks/{hmac_trigger['id']}" in log  # the debug log did record the calls
        for secret in secrets:
            assert secret not in log
            assert database_rows_containing(configured_server, secret) == []
    finally:
        user.close()


def test_webhooks_in_the_no_login_mode(local_server: ServerProcess) -> None:
    with api(local_server) as local:
        graph = create_graph(local, hello_graph())
        r = local.post("/triggers", json={"graph_id": graph["id"]})
        assert r.status_code == 201, r.text
        trigger = r.json()
        body = raw({"name": "Local"})
        ok = call(local_server, trigger["path"], body, signed(trigger["secret"], body), wait=10)
        assert ok.status_code == 200 and ok.json()["outputs"]["greeting"] == ["Hello, Local!"]
        body = raw({"name": "From a page"})
        page = call(
            local_server,
            trigger["path"],
            body,
            {**signed(trigger["secret"], body), "Origin": "https://evil.example"},
        )
        assert page.status_code == 403
        big = raw({"name": "x" * 1_100_000})
        assert call(local_server, trigger["path"], big, signed(trigger["secret"], big)).status_code == 413
        total = local.get("/executions", params={"graph_id": graph["id"]}).json()["total"]
        assert total == 1
        assert local.delete(f"/triggers/{trigger['id']}").status_code == 204
