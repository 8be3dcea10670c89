"""Human reviews in a real browser: the page a review's signed link opens (no login: read the data,
change it, approve with a message), and the Monitor's run page showing a run waiting for review with
its form (reject with a message). Every request stays on 127.0.0.1 (the ``browser`` fixture);
screenshots go to /tmp/shots/ui/."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from tests.reviews.test_api import review_graph
from tests.support.browser import TIMEOUT
from tests.support.servers import ServerProcess
from tests.ui.conftest import Browser


class Api:
    """The API of the no-login server, as a script uses it."""

    def __init__(self, server: ServerProcess) -> None:
        self.http = httpx.Client(base_url=server.base_url + "/api/v1", timeout=30)

    def waiting_run(self, order: Any, **review: Any) -> tuple[str, dict[str, Any]]:
        graph = self.http.post("/graphs", json=review_graph(**review)).json()
        r = self.http.post(f"/graphs/{graph['id']}/execute", json={"inputs": {"order": order}})
        assert r.status_code == 202, r.text
        execution_id = r.json()["id"]
        deadline = time.monotonic() + 30
        while True:
            found = self.http.get(f"/executions/{execution_id}/reviews", params={"status": "WAITING"}).json()
            if found and self.status(execution_id) == "REVIEW":
                return execution_id, self.http.get(f"/reviews/{found[0]['id']}").json()
            assert time.monotonic() < deadline, "the run never waited for its review"
            time.sleep(0.05)

    def status(self, execution_id: str) -> str:
        return str(self.http.get(f"/executions/{execution_id}").json()["status"])

    def finished(self, execution_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while True:
            run = self.http.get(f"/executions/{execution_id}").json()
            if run["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
                return run
            assert time.monotonic() < deadline, f"still {run['status']}"
            time.sleep(0.05)


async def test_a_signed_link_opens_the_review_and_approves_it_with_changed_data(
    ui_local_server: ServerProcess, browser: Browser
) -> None:
    api = Api(ui_local_server)
    order = {"customer": "Ada Lovelace", "items": [{"sku": "chair-7", "qty": 2}], "note": "deliver by Friday"}
    execution_id, review = api.waiting_run(order, timeout_seconds=3600, default_decision="reject")
    assert review["link"]

    context = await browser.context()  # a fresh profile: no session of any kind
    page = await browser.page(context)
    await page.goto(review["link"])
    await page.get_by_role("heading", name="Order to send").wait_for(timeout=TIMEOUT)
    await page.get_by_text("waiting for you").wait_for(timeout=TIMEOUT)
    data = page.locator("textarea#data")
    assert json.loads(await data.input_value()) == order
    await browser.shot(page, "review-link-page")

    changed = {**order, "items": [{"sku": "chair-7", "qty": 1}]}
    await data.fill(json.dumps(changed, indent=2))
    await page.locator("textarea#message").fill("Only one chair is in stock.")
    await page.get_by_role("button", name="Approve").click()
    await page.get_by_text("Approved. Thank you").wait_for(timeout=TIMEOUT)
    assert await page.get_by_role("button", name="Approve").count() == 0
    await browser.shot(page, "review-link-approved")

    run = api.finished(execution_id)
    assert run["status"] == "COMPLETED", run["error"]
    assert run["outputs"] == {"approved": [changed], "message": ["Only one chair is in stock."]}

    # The link does not work twice: the page says what became of the review.
    await page.goto(review["link"])
    await page.get_by_text("approved", exact=True).wait_for(timeout=TIMEOUT)
    assert await page.get_by_role("button", name="Reject").count() == 0
    await context.close()


async def test_the_run_page_shows_a_waiting_run_and_its_review_form(
    ui_local_server: ServerProcess, browser: Browser
) -> None:
    server = ui_local_server
    assert server.ui_url is not None
    api = Api(server)
    execution_id, _ = api.waiting_run({"to": "grace@example.com", "amount": 120})

    context = await browser.context()
    page = await browser.page(context)
    await page.goto(server.ui_url + "/monitor")
    row = page.locator(f'tr.wb-row[data-id="{execution_id}"]')
    await row.locator('td[data-field="status"]').get_by_text("review").wait_for(timeout=TIMEOUT)
    await browser.shot(page, "monitor-review-table")

    await page.goto(server.ui_url + f"/monitor/run?id={execution_id}")
    await page.get_by_text("Waiting for your review: Order to send").wait_for(timeout=TIMEOUT)
    await page.locator(".tabulator-row").first.wait_for(timeout=TIMEOUT)
    await browser.shot(page, "monitor-run-review")

    await page.get_by_placeholder("Why, or what to do next").fill("The amount is too high.")
    await page.get_by_placeholder("Why, or what to do next").press("Tab")  # Panel takes the value on change
    await page.get_by_role("button", name="Reject").click()
    await page.get_by_text("Rejected “Order to send”: the run goes on.").wait_for(timeout=TIMEOUT)
    await page.get_by_text("Waiting for your review").wait_for(state="detached", timeout=TIMEOUT)
    run = api.finished(execution_id)
    await page.get_by_text("rejected_data: ", exact=False).first.wait_for(timeout=TIMEOUT)  # live
    await browser.shot(page, "monitor-run-review-answered")

    assert run["outputs"] == {
        "rejected": [{"to": "grace@example.com", "amount": 120}],
        "message": ["The amount is too high."],
    }
    await context.close()
