"""The marketplace service on the durable Workbench: publish (only one's own graph, credentials
stripped, needs computed, again replaces), search everyone's, fork into another user's library with
fresh ids (sub-graphs too), refusal naming the missing providers with nothing stored, unpublish by the
publisher only."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from blocks.agent import AgentExecutorBlock
from blocks.ai import AITextGeneratorBlock
from blocks.github import GithubReadFileBlock
from blocks.text import FillTextTemplateBlock
from tests.engine.graphs import graph, inp, link, node, out
from workbench.app import Workbench
from workbench.errors import GraphValidationError, InputError, NotFoundError
from workbench.graph.model import Graph
from workbench.services.marketplace import Marketplace, MissingCredentials


async def new_user(wb: Workbench, name: str | None) -> str:
    assert wb.db is not None
    return str(
        await wb.db.pool.fetchval(
            "INSERT INTO users (email, name) VALUES ($1, $2) RETURNING id",
            f"{uuid.uuid4().hex[:10]}@example.com",
            name,
        )
    )


@pytest.fixture
def market(wb: Workbench) -> Marketplace:
    return Marketplace.of(wb)


def greeter(word: str = "Hello") -> Graph:
    return graph(
        [
            inp("in", "name"),
            node("t", FillTextTemplateBlock, format=word + ", {{ n }}!"),
            out("out", "greeting"),
        ],
        [link("in.result", "t.values_#_n"), link("t.output", "out.value")],
        name=f"Greeter {uuid.uuid4().hex[:6]}",
    )


def github_reader(cred: dict[str, Any]) -> Graph:
    return graph(
        [
            inp("in", "path"),
            node("read", GithubReadFileBlock, repo_url="owner/repo", credentials=cred),
            out("out", "text"),
        ],
        [link("in.result", "read.file_path"), link("read.text_content", "out.value")],
        name=f"Reader {uuid.uuid4().hex[:6]}",
    )


async def test_publish_search_fork_and_unpublish(wb: Workbench, market: Marketplace) -> None:
    ada, bob = await new_user(wb, "Ada Lovelace"), await new_user(wb, None)
    word = f"Howdy{uuid.uuid4().hex[:6]}"
    mine = await wb.graphs.create(greeter(word), ada)

    # Only one's own graph: Bob cannot publish Ada's, and an unknown id is not found either.
    with pytest.raises(NotFoundError):
        await market.publish(bob, mine.id, description="stolen")
    with pytest.raises(NotFoundError):
        await market.publish(ada, str(uuid.uuid4()))

    t = await market.publish(ada, mine.id, description=f"Greets people with {word}.")
    assert t.publisher == "Ada Lovelace" and t.user_id == ada
    assert (t.graph_id, t.graph_version, t.node_count) == (mine.id, 1, 3)
    assert FillTextTemplateBlock.id in t.block_ids and t.credentials == []
    assert wb.db is not None
    flags = await wb.db.pool.fetch("SELECT version, is_template FROM graphs WHERE id = $1", mine.id)
    assert [tuple(r) for r in flags] == [(1, True)]

    # Everyone finds it by a word of its description or its name; the search is paged.
    found, total = await market.search(word.lower())
    assert total == 1 and [f.id for f in found] == [t.id]
    found, total = await market.search(mine.name[-6:])
    assert [f.id for f in found] == [t.id]
    _, total_all = await market.search(None, limit=1)
    assert total_all >= 1
    assert (await market.search("no-such-template-" + word))[1] == 0
    assert all("%" in f.name + f.description for f in (await market.search("%"))[0])  # taken literally

    # Publishing a new version replaces the template (same id), marking only that version.
    v2 = await wb.graphs.update(mine.id, greeter(word).model_copy(update={"name": mine.name}), ada)
    again = await market.publish(ada, mine.id, description="Second take.")
    assert again.id == t.id and again.graph_version == v2.version == 2 and again.description == "Second take."
    flags = await wb.db.pool.fetch(
        "SELECT version, is_template FROM graphs WHERE id = $1 ORDER BY version", mine.id
    )
    assert [tuple(r) for r in flags] == [(1, False), (2, True)]
    assert (await market.search(word))[1] == 0 and (await market.search("second TAKE"))[0][0].id == t.id

    # Bob forks it: a new graph of his, with a fresh id, that runs.
    fork = await market.fork(bob, t.id)
    assert fork.id != mine.id and fork.name == mine.name and fork.version == 1
    assert (await wb.graphs.get(fork.id, bob)).id == fork.id
    with pytest.raises(NotFoundError):
        await wb.graphs.get(fork.id, ada)
    result = await wb.executions.run(fork.id, {"name": "Bo"}, user_id=bob)
    assert result.outputs["greeting"] == [f"{word}, Bo!"]
    assert (await market.get(t.id)).fork_count == 1
    # A second fork does not clash with the first one's name.
    second = await market.fork(bob, t.id)
    assert second.id != fork.id and second.name == f"{mine.name} (fork)"

    # Only the publisher unpublishes; the forks stay.
    with pytest.raises(NotFoundError):
        await market.unpublish(bob, t.id)
    await market.unpublish(ada, t.id)
    with pytest.raises(NotFoundError):
        await market.get(t.id)
    with pytest.raises(NotFoundError):
        await market.unpublish(ada, t.id)
    assert not await wb.db.pool.fetchval("SELECT bool_or(is_template) FROM graphs WHERE id = $1", mine.id)
    assert (await wb.graphs.get(fork.id, bob)).name == mine.name


async def test_credentials_are_stripped_and_a_missing_one_refuses_the_fork(
    wb: Workbench, market: Marketplace
) -> None:
    ada, bob = await new_user(wb, "Ada"), await new_user(wb, "Bob")
    assert wb.credentials is not None
    secret_cred = await wb.credentials.create(ada, "github", "api_key", {"api_key": "ghp_secret"}, "mine")
    ref = {"id": secret_cred.id, "provider": "github", "type": "api_key", "title": "mine"}
    reader = await wb.graphs.create(github_reader(ref), ada)
    assert reader.node("read").input_default["credentials"] == ref  # the publisher's own graph keeps it

    t = await market.publish(ada, reader.id, description="Reads a file.")
    assert t.credentials == [{"provider": "github", "blocks": ["GithubReadFileBlock"], "models": []}]
    shown = (await market.detail(t.id)).graph
    assert "credentials" not in shown.node("read").input_default
    assert shown.node("read").input_default["repo_url"] == "owner/repo"
    assert secret_cred.id not in shown.model_dump_json()
    assert wb.db is not None
    stored = await wb.db.pool.fetchval("SELECT graph::text FROM templates WHERE id = $1", t.id)
    assert secret_cred.id not in stored and "ghp_secret" not in stored

    # Bob has no GitHub credential: refused, naming the provider, the block and where to add one.
    before = await wb.db.pool.fetchval("SELECT count(*) FROM graphs WHERE user_id = $1", bob)
    with pytest.raises(MissingCredentials) as refused:
        await market.fork(bob, t.id)
    message = str(refused.value)
    assert refused.value.providers == ["github"]
    assert "'github'" in message and "GithubReadFileBlock" in message and "/profile" in message
    assert isinstance(refused.value, InputError)
    assert await wb.db.pool.fetchval("SELECT count(*) FROM graphs WHERE user_id = $1", bob) == before

    # With one of his own, the fork goes through and carries no credential reference.
    await wb.credentials.create(bob, "github", "api_key", {"api_key": "ghp_bob"}, "bob's")
    fork = await market.fork(bob, t.id)
    assert "credentials" not in fork.node("read").input_default
    assert secret_cred.id not in (await wb.graphs.get(fork.id, bob)).model_dump_json()


async def test_llm_needs_name_the_provider_of_the_model(wb: Workbench, market: Marketplace) -> None:
    ada = await new_user(wb, "Ada")
    g = graph(
        [
            inp("in", "q"),
            node("gpt", AITextGeneratorBlock, model="gpt-4o-mini"),
            node("claude", AITextGeneratorBlock, model="claude-sonnet-4"),
            out("out", "a"),
        ],
        [
            link("in.result", "gpt.prompt"),
            link("in.result", "claude.prompt"),
            link("gpt.response", "out.value"),
        ],
        name="Two models",
    )
    stored = await wb.graphs.create(g, ada)
    t = await market.publish(ada, stored.id)
    assert [(c["provider"], c["models"]) for c in t.credentials] == [
        ("anthropic", ["claude-sonnet-4"]),
        ("openai", ["gpt-4o-mini"]),
    ]


async def test_a_fork_gives_sub_graphs_fresh_ids_and_re_points_agent_nodes(
    wb: Workbench, market: Marketplace
) -> None:
    ada, bob = await new_user(wb, "Ada"), await new_user(wb, "Bob")
    inner = await wb.graphs.create(greeter("Hi"), ada)
    outer_doc = graph(
        [
            inp("in", "name"),
            node(
                "sub",
                AgentExecutorBlock,
                graph_id=inner.id,
                user_id=ada,
                inputs={},
                input_schema={"properties": {"name": {"type": "string"}}, "required": ["name"]},
            ),
            out("out", "greeting"),
        ],
        [link("in.result", "sub.name"), link("sub.greeting", "out.value")],
        name="Outer",
    )
    outer = await wb.graphs.create(outer_doc, ada)
    t = await market.publish(ada, outer.id, description="Runs a greeter.")
    shown = (await market.detail(t.id)).graph
    assert [s.id for s in shown.sub_graphs] == [inner.id]
    assert shown.node("sub").input_default["graph_version"] == 1
    assert "user_id" not in shown.node("sub").input_default

    fork = await market.fork(bob, t.id)
    target = fork.node("sub").input_default["graph_id"]
    assert target not in (inner.id, outer.id) and fork.id not in (inner.id, outer.id)
    copied = await wb.graphs.get(target, bob)  # the sub-graph is Bob's own copy
    assert copied.name == inner.name
    original = await wb.executions.run(outer.id, {"name": "Cy"}, user_id=ada)
    assert original.outputs.get("greeting") == ["Hi, Cy!"], (original.status, original.error)
    result = await wb.executions.run(fork.id, {"name": "Cy"}, user_id=bob)
    assert result.outputs.get("greeting") == ["Hi, Cy!"], (result.status, result.error)

    # A sub-graph the publisher no longer has cannot be published; a bad template id is not found.
    with pytest.raises(NotFoundError):
        await market.fork(bob, str(uuid.uuid4()))
    with pytest.raises(NotFoundError):
        await market.detail("not-a-uuid")


async def test_a_template_of_blocks_missing_here_is_not_forked(wb: Workbench, market: Marketplace) -> None:
    ada, bob = await new_user(wb, "Ada"), await new_user(wb, "Bob")
    stored = await wb.graphs.create(greeter(), ada)
    t = await market.publish(ada, stored.id)
    assert wb.db is not None
    snapshot = await wb.db.pool.fetchval("SELECT graph FROM templates WHERE id = $1", t.id)
    snapshot["nodes"][1]["block_id"] = str(uuid.uuid4())
    await wb.db.pool.execute("UPDATE templates SET graph = $2 WHERE id = $1", t.id, snapshot)
    with pytest.raises(GraphValidationError) as refused:
        await market.fork(bob, t.id)
    assert refused.value.problems[0].node_id == "t"
    assert await wb.db.pool.fetchval("SELECT count(*) FROM graphs WHERE user_id = $1", bob) == 0
