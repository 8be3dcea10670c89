"""Human reviews over HTTP, on a real ``workbench serve --auth accounts``: a run waits in REVIEW, its
owner lists and answers it through /api/v1/reviews (another user gets 404, a second answer 409, bad
input 422 naming the field), and the signed link's page answers it without a login, through the
front door's rules. Every API response goes through ``check_response`` (the error shape)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.server.api_support import INPUT_BLOCK, OUTPUT_BLOCK, User, create_graph, wait_status
from tests.support.servers import ServerProcess

HITL_BLOCK = "8b2a7b3c-6e9d-4a5f-8c1b-2e3f4a5b6c7d"


def review_graph(name: str = "Check the order", **review: Any) -> dict[str, Any]:
    """input ``order`` -> review -> outputs ``approved``, ``rejected``, ``message``."""
    return {
        "name": name,
        "nodes": [
            {"id": "order", "block_id": INPUT_BLOCK, "input_default": {"name": "order"}},
            {"id": "review", "block_id": HITL_BLOCK, "input_default": {"name": "Order to send", **review}},
            {"id": "ok", "block_id": OUTPUT_BLOCK, "input_default": {"name": "approved"}},
            {"id": "no", "block_id": OUTPUT_BLOCK, "input_default": {"name": "rejected"}},
            {"id": "msg", "block_id": OUTPUT_BLOCK, "input_default": {"name": "message"}},
        ],
        "links": [
            {"source_id": "order", "source_name": "result", "sink_id": "review", "sink_name": "data"},
            {"source_id": "review", "source_name": "approved_data", "sink_id": "ok", "sink_name": "value"},
            {"source_id": "review", "source_name": "rejected_data", "sink_id": "no", "sink_name": "value"},
            {"source_id": "review", "source_name": "review_message", "sink_id": "msg", "sink_name": "value"},
        ],
    }


def start_waiting(client: httpx.Client, order: Any, **review: Any) -> tuple[str, dict[str, Any]]:
    """A new run of the review graph, once it waits: (execution id, its review)."""
    graph = create_graph(client, review_graph(**review))
    r = client.post(f"/graphs/{graph['id']}/execute", json={"inputs": {"order": order}})
    assert r.status_code == 202, r.text
    execution_id = r.json()["id"]
    wait_status(client, execution_id, {"REVIEW"}, timeout=30)
    r = client.get(f"/executions/{execution_id}/reviews", params={"status": "WAITING"})
    assert r.status_code == 200, r.text
    [review_doc] = r.json()
    return execution_id, review_doc


def test_a_run_waits_in_review_and_its_owner_answers_it(
    accounts_server: ServerProcess, alice: User, bob: User
) -> None:
    order = {"item": "chair", "qty": 2}
    execution_id, review = start_waiting(alice.client, order)
    assert review["execution_id"] == execution_id and review["status"] == "WAITING"
    assert review["name"] == "Order to send" and review["data"] == order and review["editable"] is True
    assert review["run_status"] == "REVIEW" and review["agent"] == "Check the order"

    # Every front door of the API sees it waiting.
    for status in ("REVIEW", "WAITING"):
        r = alice.client.get("/executions", params={"status": status})
        assert execution_id in {e["id"] for e in r.json()["items"]}
    r = alice.client.get("/reviews", params={"status": "WAITING"})
    assert review["id"] in {x["id"] for x in r.json()["items"]}
    one = alice.client.get(f"/reviews/{review['id']}").json()
    assert one["link"].startswith(accounts_server.base_url + f"/review/{review['id']}?token=")

    # Someone else's: not found, whatever they try.
    assert bob.client.get(f"/reviews/{review['id']}").status_code == 404
    assert bob.client.post(f"/reviews/{review['id']}", json={"decision": "approve"}).status_code == 404
    assert bob.client.get(f"/executions/{execution_id}/reviews").status_code == 404
    assert review["id"] not in {x["id"] for x in bob.client.get("/reviews").json()["items"]}

    # Bad answers are 422 naming the field.
    r = alice.client.post(f"/reviews/{review['id']}", json={"decision": "maybe"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["key"] == "decision"
    r = alice.client.post(f"/reviews/{review['id']}", json={"decision": "reject", "data": {"qty": 1}})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"] == [
        {"key": "data", "message": "only an approval can change the data", "source": "body"}
    ]

    edited = {"item": "chair", "qty": 1}
    r = alice.client.post(
        f"/reviews/{review['id']}", json={"decision": "approve", "data": edited, "message": "one is enough"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "APPROVED" and r.json()["reviewed_data"] == edited
    done = wait_status(alice.client, execution_id, {"COMPLETED", "FAILED"}, timeout=30)
    assert done["status"] == "COMPLETED", done["error"]
    assert done["outputs"] == {"approved": [edited], "message": ["one is enough"]}

    r = alice.client.post(f"/reviews/{review['id']}", json={"decision": "reject"})
    assert r.status_code == 409 and "approved already" in r.json()["error"]["message"]
    assert alice.client.get(f"/reviews/{review['id']}").json()["link"] is None  # no link once decided


def test_data_of_a_review_that_is_not_editable_is_refused(alice: User) -> None:
    _, review = start_waiting(alice.client, "fixed", editable=False)
    r = alice.client.post(f"/reviews/{review['id']}", json={"decision": "approve", "data": "changed"})
    assert r.status_code == 422
    [detail] = r.json()["error"]["details"]
    assert detail["key"] == "data" and "not editable" in detail["message"]
    assert alice.client.post(f"/reviews/{review['id']}", json={"decision": "approve"}).status_code == 200


def test_without_safe_mode_a_run_does_not_wait(alice: User) -> None:
    graph = create_graph(alice.client, review_graph())
    r = alice.client.post(
        f"/graphs/{graph['id']}/execute",
        params={"wait": 30},
        json={"inputs": {"order": "anything"}, "safe_mode": False},
    )
    assert r.status_code == 200, r.text
    assert r.json()["outputs"] == {"approved": ["anything"], "message": ["auto-approved: safe mode is off"]}


def _link_parts(link: str) -> tuple[str, str]:
    parts = urlsplit(link)
    token = re.fullmatch(r"token=([A-Za-z0-9_-]+)", parts.query)
    assert token, link
    return parts.path, token.group(1)


def test_the_signed_link_answers_without_a_login_once(accounts_server: ServerProcess, alice: User) -> None:
    execution_id, review = start_waiting(alice.client, {"to": "ada@example.com"})
    path, token = _link_parts(alice.client.get(f"/reviews/{review['id']}").json()["link"])
    page = httpx.Client(base_url=accounts_server.base_url, timeout=30)  # a browser: no credentials

    shown = page.get(path, params={"token": token})
    assert shown.status_code == 200, shown.text
    assert "form-action 'self'" in shown.headers["content-security-policy"]
    assert "script-src" not in shown.headers["content-security-policy"]
    assert shown.headers["cache-control"] == "no-store"
    assert "Order to send" in shown.text and "ada@example.com" in shown.text
    assert 'value="approve"' in shown.text and 'value="reject"' in shown.text
    assert token in shown.text  # in the form's hidden field; the form posts to the bare path
    assert f'action="{path}"' in shown.text

    # Another review's token, or none, opens nothing.
    assert page.get(path, params={"token": "x" * 43}).status_code == 404
    assert page.get(path).status_code == 404

    # The front door's rules hold for the form: its own origin, a type it accepts.
    origin = accounts_server.base_url
    form = {"token": token, "decision": "reject", "message": "wrong address"}
    assert page.post(path, data=form, headers={"Origin": "https://evil.example"}).status_code == 403
    assert page.post(path, data=form, headers={"Origin": origin}).status_code == 415  # urlencoded
    bad = page.post(
        path, files={"token": (None, "nope"), "decision": (None, "reject")}, headers={"Origin": origin}
    )
    assert bad.status_code == 404

    answered = page.post(path, files={k: (None, v) for k, v in form.items()}, headers={"Origin": origin})
    assert answered.status_code == 200, answered.text
    assert "Rejected" in answered.text and 'value="approve"' not in answered.text
    done = wait_status(alice.client, execution_id, {"COMPLETED", "FAILED"}, timeout=30)
    assert done["outputs"] == {"rejected": [{"to": "ada@example.com"}], "message": ["wrong address"]}
    decided = alice.client.get(f"/reviews/{review['id']}").json()
    assert decided["decided_via"] == "link" and decided["status"] == "REJECTED"

    again = page.post(
        path,
        files={k: (None, v) for k, v in {**form, "decision": "approve"}.items()},
        headers={"Origin": origin},
    )
    assert again.status_code == 409 and "rejected already" in again.text
    after = page.get(path, params={"token": token})
    assert after.status_code == 200 and 'value="approve"' not in after.text and "rejected" in after.text


def test_the_link_page_takes_edited_json_and_refuses_broken_json(
    accounts_server: ServerProcess, alice: User
) -> None:
    execution_id, review = start_waiting(alice.client, {"qty": 5})
    path, token = _link_parts(alice.client.get(f"/reviews/{review['id']}").json()["link"])
    origin = {"Origin": accounts_server.base_url}
    with httpx.Client(base_url=accounts_server.base_url, timeout=30) as page:
        broken = page.post(
            path,
            files={"token": (None, token), "decision": (None, "approve"), "data": (None, '{"qty": ')},
            headers=origin,
        )
        assert broken.status_code == 422 and "not valid JSON" in broken.text
        assert "{&#34;qty&#34;: " in broken.text  # what was typed is kept
        ok = page.post(
            path,
            files={"token": (None, token), "decision": (None, "approve"), "data": (None, '{"qty": 4}')},
            headers=origin,
        )
        assert ok.status_code == 200 and "Approved" in ok.text
    done = wait_status(alice.client, execution_id, {"COMPLETED", "FAILED"}, timeout=30)
    assert done["outputs"] == {"approved": [{"qty": 4}]}
