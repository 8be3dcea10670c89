"""The marketplace through both transports: the same methods, results and errors."""

from __future__ import annotations

import uuid

import pytest

from tests.client.conftest import greeter
from workbench.client import LocalClient, RemoteClient
from workbench.client.types import TemplateInfo
from workbench.errors import NotFoundError


async def test_publish_search_fork_unpublish_alike(clients: tuple[LocalClient, RemoteClient]) -> None:
    for client in clients:
        word = f"market{uuid.uuid4().hex[:8]}"
        g = greeter(str(uuid.uuid4())).build().model_copy(update={"name": f"Greeter {word}"})
        stored = await client.create_graph(g)
        t = await client.publish_template(stored.id, description=f"Greets, {client.kind}.")
        assert isinstance(t, TemplateInfo)
        assert (t.graph_id, t.graph_version, t.providers) == (stored.id, 1, [])
        assert [x.id for x in await client.templates(word)] == [t.id]
        assert [x.id for x in await client.templates(word, mine=True)] == [t.id]
        assert (await client.template(t.id)).description == f"Greets, {client.kind}."
        shown = await client.template_graph(t.id)
        assert {n.id for n in shown.nodes} == {n.id for n in stored.nodes}

        fork = await client.fork_template(t.id)
        assert fork.id != stored.id and fork.name == f"Greeter {word} (fork)"  # the original has the name
        assert (await client.load_graph(fork.id)).id == fork.id
        named = await client.fork_template(t.id, name="Mine")
        assert named.name == "Mine"
        result = await client.run(fork.id, {"name": "Ada"})
        assert result.outputs["greeting"] == ["Hello, Ada!"]

        await client.unpublish_template(t.id)
        with pytest.raises(NotFoundError):
            await client.template(t.id)
        with pytest.raises(NotFoundError):
            await client.fork_template(str(uuid.uuid4()))
        with pytest.raises(NotFoundError):
            await client.unpublish_template(t.id)
