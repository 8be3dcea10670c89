"""GitHub-signed webhook triggers (``auth_mode: github``) on a real ``workbench serve``, called as
GitHub calls a repository webhook: ``X-Hub-Signature-256: sha256=<HMAC-SHA256 of the raw body>``,
``X-GitHub-Delivery``, ``X-GitHub-Event``, no login, no timestamp. A good signature starts the agent
with inputs mapped from the payload; a missing or bad one is a 401 and starts nothing; a delivery seen
before (its id, or its body under another id) is refused; GitHub's default form encoding is a 415
that says to choose JSON."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from urllib.parse import urlencode

from tests.server.api_support import User, create_graph, hello_graph, wait_status
from tests.server.test_triggers_api import call, make_trigger, raw, runs_of
from tests.support.servers import ServerProcess
from workbench.services.trigger_signing import sign


def github(secret: str, body: bytes, delivery: str | None = None, event: str = "issues") -> dict[str, str]:
    """The headers GitHub sends, computed here as GitHub documents them (not with our helper)."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-Hub-Signature-256": f"sha256={digest}",
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-GitHub-Event": event,
        "User-Agent": "GitHub-Hookshot/1a2b3c4",
    }


def test_a_github_signed_delivery_runs_the_agent_once(accounts_server: ServerProcess, alice: User) -> None:
    graph = create_graph(alice.client, hello_graph())
    trigger = make_trigger(
        alice, graph_id=graph["id"], auth_mode="github", input_mapping={"name": "sender.login"}
    )
    assert trigger["auth_mode"] == "github"
    assert alice.client.get(f"/triggers/{trigger['id']}").json()["auth_mode"] == "github"
    path, secret = trigger["path"], trigger["secret"]
    payload = raw({"action": "opened", "sender": {"login": "octocat"}, "repository": {"full_name": "o/r"}})

    refused = {
        "no headers": {},
        "no signature": {"X-GitHub-Delivery": str(uuid.uuid4())},
        "no delivery id": {"X-Hub-Signature-256": github(secret, payload)["X-Hub-Signature-256"]},
        "another secret": github("wbh_" + "B" * 43, payload),
        "another body": github(secret, raw({"sender": {"login": "mallory"}})),
        "our own scheme": sign(secret, payload),
        "the secret as bearer": {"Authorization": f"Bearer {secret}"},
    }
    for what, headers in refused.items():
        r = call(accounts_server, path, payload, headers)
        assert r.status_code == 401, (what, r.text)
        assert secret not in r.text
    assert runs_of(alice, graph["id"]) == 0

    delivery = str(uuid.uuid4())
    r = call(accounts_server, path, payload, github(secret, payload, delivery), wait=10)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "COMPLETED" and r.json()["outputs"]["greeting"] == ["Hello, octocat!"]

    again = call(accounts_server, path, payload, github(secret, payload, delivery))
    assert again.status_code == 401 and "replay" in again.json()["error"]["message"]
    renamed = call(accounts_server, path, payload, github(secret, payload))  # the body, a new id
    assert renamed.status_code == 401 and "replay" in renamed.json()["error"]["message"]
    other = raw({"action": "closed", "sender": {"login": "hubot"}})
    reused = call(accounts_server, path, other, github(secret, other, delivery))  # the id, a new body
    assert reused.status_code == 401
    assert runs_of(alice, graph["id"]) == 1

    r = call(accounts_server, path, other, github(secret, other))
    assert r.status_code == 202, r.text
    run = wait_status(alice.client, r.json()["execution_id"], {"COMPLETED"})
    assert run["outputs"]["greeting"] == ["Hello, hubot!"]
    assert runs_of(alice, graph["id"]) == 2
    assert alice.client.get(f"/triggers/{trigger['id']}").json()["fire_count"] == 2


def test_githubs_form_encoding_is_refused_with_what_to_choose(
    accounts_server: ServerProcess, alice: User
) -> None:
    graph = create_graph(alice.client, hello_graph())
    trigger = make_trigger(alice, graph_id=graph["id"], auth_mode="github")
    form = urlencode({"payload": '{"name": "Ada"}'}).encode()
    r = call(
        accounts_server,
        trigger["path"],
        form,
        {**github(trigger["secret"], form), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 415 and "application/json" in r.json()["error"]["message"]
    assert runs_of(alice, graph["id"]) == 0
