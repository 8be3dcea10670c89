"""The Library's triggers section without a browser, on real PostgreSQL: a trigger made from the form
(its secret shown once, refusals named field by field), listed with its URL, rotated and deleted
through the service; and the curl example it shows, run for real in bash against a real server for
each way of signing: pasted into a terminal, it starts a run."""

from __future__ import annotations

import subprocess
import uuid
from typing import Any

import httpx
import param
import pytest

from tests.scheduler.conftest import hello_graph, new_user
from tests.server.api_support import create_graph
from tests.server.api_support import hello_graph as hello_doc
from tests.support.servers import ServerProcess
from workbench.app import Workbench
from workbench.services.trigger_mapping import map_inputs
from workbench.ui.context import UiContext
from workbench.ui.library_triggers import (
    TriggerSection,
    TriggerStore,
    curl_example,
    example_payload,
    triggers_table,
)


def typed(widget: Any, **values: Any) -> None:
    """Set a widget's values as the browser would, without running its watchers."""
    with param.parameterized.discard_events(widget):
        widget.param.update(**values)


def store_of(wb: Workbench, user: str) -> TriggerStore:
    return TriggerStore(UiContext(wb=wb, user_id=user, email=None, links={"API docs": "http://h:1/api/docs"}))


async def test_the_section_makes_lists_rotates_and_deletes(wb: Workbench) -> None:
    user = await new_user(wb)
    graph = await hello_graph(wb, user)
    store = store_of(wb, user)
    section = TriggerSection(store=store, graph_id=graph.id, inputs={"name": ""})
    await section.refresh()
    assert "No triggers yet" in section.table.html

    typed(section.mapping, value_input="{oops")
    assert await section.create() is None
    assert section.errors.visible and "`input_mapping`: is not JSON" in section.errors.object
    typed(section.mapping, value_input='{"nobody": "a.b"}')
    typed(section.rate, value=0)
    assert await section.create() is None
    assert (
        "`input_mapping.nobody`" in section.errors.object
        and "`rate_limit_per_minute`" in section.errors.object
    )

    typed(section.mapping, value_input='{"name": "sender.login"}')
    typed(section.rate, value=30)
    typed(section.auth, value="github")
    typed(section.name_input, value_input="<b>Issues</b>")
    issued = await section.create()
    assert issued is not None and not section.errors.visible
    assert (issued.trigger.auth_mode, issued.trigger.rate_limit_per_minute) == ("github", 30)
    assert issued.trigger.input_mapping == {"name": "sender.login"}
    url = f"http://h:1/api/v1/hooks/{issued.trigger.id}"
    assert section.secret_box.visible and section.secret.value == issued.secret
    assert issued.secret in section.example.value and url in section.example.value
    assert (
        "X-Hub-Signature-256" in section.example.value and "application/json" in section.secret_intro.object
    )
    table = section.table.html
    assert url in table and "GitHub signature" in table and "30/min" in table and "never" in table
    assert "&lt;b&gt;Issues&lt;/b&gt;" in table and "<b>Issues</b>" not in table
    assert f'data-action="rotate" data-id="{issued.trigger.id}"' in table

    section._on_action("rotate", issued.trigger.id)  # asks first
    assert section.rotate_bar.target == issued.trigger.id and section.rotate_bar._layout.visible
    rotated = await section.rotate(issued.trigger.id)
    assert rotated is not None and rotated.secret != issued.secret
    assert section.secret.value == rotated.secret and not section.rotate_bar._layout.visible
    section.forget_secret()
    assert not section.secret_box.visible and section.secret.value == ""

    section._on_action("delete", issued.trigger.id)
    assert section.delete_bar.target == issued.trigger.id
    assert await section.delete(issued.trigger.id)
    assert "No triggers yet" in section.table.html
    assert not await section.delete(issued.trigger.id)  # gone: said, not raised
    assert section.message.visible and "not found" in section.message.object

    other = await new_user(wb)
    assert await store_of(wb, other).triggers(graph.id) == []  # another user sees none


def test_the_example_payload_puts_each_input_where_the_mapping_looks() -> None:
    inputs = {"name": "World", "n": 3}
    assert example_payload(None, inputs) == inputs
    mapped = example_payload({"name": "sender.login", "n": "/commits/0/count"}, inputs)
    assert mapped == {"sender": {"login": "World"}, "commits": {"0": {"count": 3}}}
    assert map_inputs({"name": "sender.login", "n": "/commits/0/count"}, mapped) == (inputs, {})
    assert example_payload({"name": ""}, inputs) == "World"


def test_the_table_says_when_a_trigger_was_last_called(wb: Workbench) -> None:
    from datetime import UTC, datetime

    from workbench.store.triggers import TriggerRecord

    now = datetime.now(UTC)
    called = TriggerRecord(
        str(uuid.uuid4()),
        "u",
        "g",
        None,
        "",
        "hmac",
        None,
        {},
        False,
        60,
        3,
        now,
        str(uuid.uuid4()),
        now,
        now,
        now,
    )
    markup = triggers_table([called], store_of(wb, "u"))
    assert "/monitor/run?id=" in markup and "(disabled)" in markup and ">3<" in markup


@pytest.mark.parametrize("mode", ["hmac", "bearer", "github"])
def test_the_curl_example_starts_a_run(local_server: ServerProcess, mode: str) -> None:
    with httpx.Client(base_url=local_server.base_url + "/api/v1", timeout=30) as api:
        graph = create_graph(api, hello_doc())
        made = api.post("/triggers", json={"graph_id": graph["id"], "auth_mode": mode})
        assert made.status_code == 201, made.text
        trigger = made.json()
        script = curl_example(trigger["url"], trigger["secret"], mode, {"name": "It's me"})
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert '"execution_id"' in done.stdout, done.stdout
        runs = api.get("/executions", params={"graph_id": graph["id"]}).json()
        assert runs["total"] == 1
        run = api.get(f"/executions/{runs['items'][0]['id']}").json()
        assert run["inputs"] == {"name": "It's me"}
        assert api.delete(f"/triggers/{trigger['id']}").status_code == 204
