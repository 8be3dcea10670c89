"""Webhook triggers from the client, on both transports: made, listed, rotated, deleted, called."""

from __future__ import annotations

import json

import httpx

from tests.client.conftest import greeter
from workbench.client import LocalClient, RemoteClient, TriggerInfo
from workbench.services.trigger_signing import sign
from workbench.services.triggers import TriggerService


async def test_triggers_on_both_transports(clients: tuple[LocalClient, RemoteClient]) -> None:
    local, remote = clients
    body = json.dumps({"name": "Ada"}).encode()
    for client in clients:
        graph = await client.save_graph(greeter())
        made = await client.create_trigger(graph.id, name="hook", rate_limit_per_minute=5)
        assert isinstance(made, TriggerInfo) and made.secret and made.secret.startswith("wbh_")
        assert made.secret not in repr(made) and made.path == f"/api/v1/hooks/{made.id}"
        assert (made.enabled, made.auth_mode, made.rate_limit_per_minute) == (True, "hmac", 5)
        listed = await client.triggers(graph.id)
        assert [t.id for t in listed] == [made.id] and listed[0].secret is None
        rotated = await client.rotate_trigger_secret(made.id)
        assert rotated.secret and rotated.secret != made.secret

        headers = {"Content-Type": "application/json", **sign(rotated.secret, body)}
        if client is remote:
            assert rotated.url == remote.url + made.path
            async with httpx.AsyncClient(timeout=30) as sender:
                r = await sender.post(rotated.url, content=body, headers=headers, params={"wait": 10})
            assert r.status_code == 200, r.text
            outputs = r.json()["outputs"]
        else:
            assert rotated.url is None  # no server: the path is where a server would take calls
            fired = await TriggerService.of(local.wb).fire(made.id, headers, body, wait=10)
            outputs = fired.execution.outputs
        assert outputs["greeting"] == ["Hello, Ada!"]
        assert (await client.triggers(graph.id))[0].fire_count == 1

        await client.delete_trigger(made.id)
        assert await client.triggers(graph.id) == []
