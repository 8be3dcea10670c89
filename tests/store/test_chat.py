"""Chat conversations on the durable Workbench: stored per user and agent, the history passed to agents
that take it, the reply streamed from the local OpenAI-compatible server, stop, retry, a failure that
names its node, user isolation, and the conversations still there for a new Workbench on the database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from blocks.ai import AITextGeneratorBlock
from tests.engine.graphs import graph, inp, link, node, out
from tests.support.blocks import EchoBlock, FailBlock, SleepBlock
from tests.support.openai_server import LLMServer
from workbench.app import Workbench
from workbench.auth import LOCAL_USER_ID
from workbench.errors import InputError, NotFoundError
from workbench.services.chat import ChatService, ChatUpdate, chat_pins, history_value

pytestmark = pytest.mark.usefixtures("loopback_allowed")


@pytest.fixture(autouse=True)
def _fresh(llm: LLMServer) -> None:
    llm.reset()


@pytest.fixture
def chat(wb: Workbench) -> ChatService:
    return ChatService.of(wb)


@pytest.fixture(scope="module")
async def cred(wb: Workbench, llm: LLMServer) -> AsyncIterator[dict[str, Any]]:
    meta = await wb.credentials.create(
        LOCAL_USER_ID, "openai", "api_key", {"api_key": "test-key", "base_url": llm.base_url}, title="chat"
    )
    yield {"id": meta.id, "provider": "openai", "type": "api_key", "title": "chat"}
    await wb.credentials.delete(LOCAL_USER_ID, meta.id)


async def llm_agent(wb: Workbench, cred: dict[str, Any]) -> str:
    """message + history in, the LLM's answer out as ``reply``."""
    g = graph(
        [
            inp("in", "message"),
            inp("hist", "history", value=[]),
            node(
                "gen",
                AITextGeneratorBlock,
                model="gpt-4o-mini",
                credentials=cred,
                prompt="{{ history }} | {{ message }}",
            ),
            out("out", "reply"),
        ],
        [
            link("in.result", "gen.prompt_values_#_message"),
            link("hist.result", "gen.prompt_values_#_history"),
            link("gen.response", "out.value"),
        ],
        name="LLM chat",
    )
    return (await wb.graphs.create(g, LOCAL_USER_ID)).id


async def plain_agent(wb: Workbench, *middle: Any, user_id: str = LOCAL_USER_ID, name: str = "Echo") -> str:
    """message in, through ``middle`` nodes (ids m0, m1...), reply out."""
    nodes = [inp("in", "message"), *middle, out("out", "reply")]
    ids = ["in", *(n.id for n in middle), "out"]
    pins = ["result", *("output" for _ in middle)]
    sinks = [*("value" for _ in middle), "value"]
    links = [link(f"{a}.{p}", f"{b}.{s}") for a, p, b, s in zip(ids, pins, ids[1:], sinks, strict=False)]
    return (await wb.graphs.create(graph(nodes, links, name=name), user_id)).id


async def collect(updates: AsyncIterator[ChatUpdate]) -> list[ChatUpdate]:
    return [u async for u in updates]


def test_pins_follow_the_convention_and_say_what_is_missing() -> None:
    assert chat_pins("a", ["message", "history"], ["reply"]).history == "history"
    assert chat_pins("a", ["message"], ["reply"]).history is None
    assert chat_pins("a", ["q"], ["answer"], message="q", reply="answer").message == "q"
    with pytest.raises(InputError, match="no input 'message' \\(its inputs: name\\); no output 'reply'"):
        chat_pins("a", ["name"], ["greeting"])
    records = [
        {"role": "user", "text": "hi"},
        {"role": "error", "text": "x"},
        {"role": "assistant", "text": "yo"},
    ]
    assert history_value(records) == [{"role": "user", "text": "hi"}, {"role": "assistant", "text": "yo"}]


async def test_reply_streams_tokens_and_history_reaches_the_agent(
    wb: Workbench, chat: ChatService, llm: LLMServer, cred: dict[str, Any]
) -> None:
    session = await chat.create_session(LOCAL_USER_ID, await llm_agent(wb, cred))
    assert session.title == "Chat with LLM chat" and session.pins["history"] == "history"
    llm.script({"content": "Foxes are quick."}, {"content": "They are clever too."})
    first = await collect(chat.send(session.id, LOCAL_USER_ID, "Tell me about foxes"))
    kinds = [u.kind for u in first]
    assert kinds[0] == "started" and kinds[-1] == "reply"
    assert [u.text for u in first if u.kind == "token"] == ["Foxes ", "are ", "quick."]
    assert {u.step.node_id for u in first if u.kind == "step" and u.step} >= {"in", "gen", "out"}
    assert first[-1].message is not None and first[-1].message.role == "assistant"
    assert first[-1].text == "Foxes are quick."

    await collect(chat.send(session.id, LOCAL_USER_ID, "More"))
    prompt = llm.chat_requests()[1]["messages"][-1]["content"]
    assert "'role': 'user', 'text': 'Tell me about foxes'" in prompt
    assert "'role': 'assistant', 'text': 'Foxes are quick.'" in prompt and prompt.endswith("| More")
    stored = await chat.messages(session.id, LOCAL_USER_ID)
    assert [(m.role, m.text) for m in stored] == [
        ("user", "Tell me about foxes"),
        ("assistant", "Foxes are quick."),
        ("user", "More"),
        ("assistant", "They are clever too."),
    ]
    steps = await chat.steps(stored[-1].execution_id or "", LOCAL_USER_ID)
    assert {s.node_id for s in steps} == {"in", "hist", "gen", "out"}
    assert all(s.status == "COMPLETED" and s.duration is not None for s in steps)


async def test_a_failing_node_is_named_and_retry_sends_the_last_message_again(
    wb: Workbench, chat: ChatService
) -> None:
    agent = await plain_agent(wb, node("m0", FailBlock, message="the tool broke"))
    session = await chat.create_session(LOCAL_USER_ID, agent)
    failed = await collect(chat.send(session.id, LOCAL_USER_ID, "hello"))
    assert failed[-1].message is not None and failed[-1].message.role == "error"
    assert "node 'm0'" in failed[-1].text and "the tool broke" in failed[-1].text

    again = await collect(chat.retry(session.id, LOCAL_USER_ID))
    assert again[-1].message is not None and again[-1].message.role == "error"
    stored = await chat.messages(session.id, LOCAL_USER_ID)
    assert [m.role for m in stored] == ["user", "error", "error"]  # the message is not stored twice


async def test_a_reply_that_streamed_then_failed_keeps_what_arrived(
    wb: Workbench, chat: ChatService, llm: LLMServer, cred: dict[str, Any]
) -> None:
    g = graph(
        [
            inp("in", "message"),
            node("gen", AITextGeneratorBlock, model="gpt-4o-mini", credentials=cred, prompt="{{ message }}"),
            out("out", "reply"),
            node("check", FailBlock, message="the checker broke"),
        ],
        [
            link("in.result", "gen.prompt_values_#_message"),
            link("gen.response", "out.value"),
            link("gen.response", "check.value"),
        ],
        name="Checked chat",
    )
    session = await chat.create_session(LOCAL_USER_ID, (await wb.graphs.create(g, LOCAL_USER_ID)).id)
    llm.script({"content": "Half an answer"})
    updates = await collect(chat.send(session.id, LOCAL_USER_ID, "hi"))
    assert "".join(u.text for u in updates if u.kind == "token") == "Half an answer"
    assert updates[-1].message is not None and updates[-1].message.role == "error"
    assert "node 'check' (" in updates[-1].text and "the checker broke" in updates[-1].text
    stored = await chat.messages(session.id, LOCAL_USER_ID)
    assert [(m.role, m.text[:14]) for m in stored] == [
        ("user", "hi"),
        ("assistant", "Half an answer"),
        ("error", "The run failed"),
    ]
    assert stored[1].execution_id == stored[2].execution_id == updates[0].execution_id


async def test_stop_cancels_the_run(wb: Workbench, chat: ChatService) -> None:
    agent = await plain_agent(wb, node("m0", SleepBlock, seconds=30))
    session = await chat.create_session(LOCAL_USER_ID, agent)
    updates: list[ChatUpdate] = []

    async def talk() -> None:
        async for update in chat.send(session.id, LOCAL_USER_ID, "wait for it"):
            updates.append(update)

    task = asyncio.create_task(talk())
    while not updates:
        await asyncio.sleep(0.02)
    assert updates[0].kind == "started" and updates[0].execution_id
    await chat.stop(updates[0].execution_id, LOCAL_USER_ID)
    await asyncio.wait_for(task, 10)
    assert updates[-1].kind == "reply" and updates[-1].text.startswith("Stopped")
    assert (await wb.executions.get(updates[0].execution_id, LOCAL_USER_ID)).status == "CANCELLED"


async def test_agents_without_text_pins_are_refused_with_a_reason(wb: Workbench, chat: ChatService) -> None:
    g = graph([inp("in", "name"), out("out", "greeting")], [link("in.result", "out.value")], name="Greeter")
    odd = (await wb.graphs.create(g, LOCAL_USER_ID)).id
    with pytest.raises(InputError, match="cannot chat: no input 'message'"):
        await chat.create_session(LOCAL_USER_ID, odd)
    listed = {a.id: a for a in await chat.agents(LOCAL_USER_ID)}
    assert listed[odd].pins is None and "no output 'reply'" in (listed[odd].problem or "")
    # Mapped by hand, it chats.
    session = await chat.create_session(LOCAL_USER_ID, odd, pins={"message": "name", "reply": "greeting"})
    done = await collect(chat.send(session.id, LOCAL_USER_ID, "Ada"))
    assert done[-1].text == "Ada"
    with pytest.raises(InputError, match="message: empty"):
        await collect(chat.send(session.id, LOCAL_USER_ID, "   "))


async def test_users_see_only_their_own_conversations(wb: Workbench, chat: ChatService) -> None:
    mine = await chat.create_session(LOCAL_USER_ID, await plain_agent(wb, node("m0", EchoBlock)))
    await collect(chat.send(mine.id, LOCAL_USER_ID, "secret"))
    other = await wb.accounts.signup(f"chat-{uuid.uuid4().hex[:8]}@example.com", "correct horse battery")
    assert mine.id not in {s.id for s in await chat.sessions(other.id)}
    assert await chat.sessions(other.id) == []
    with pytest.raises(NotFoundError):
        await chat.messages(mine.id, other.id)
    with pytest.raises(NotFoundError):
        await chat.rename(mine.id, other.id, "mine now")
    with pytest.raises(NotFoundError):
        await chat.delete(mine.id, other.id)
    with pytest.raises(NotFoundError):
        await collect(chat.send(mine.id, other.id, "hi"))
    with pytest.raises(NotFoundError):  # nor can they chat with my agent
        await chat.create_session(other.id, mine.graph_id)
    with pytest.raises(NotFoundError):
        await chat.session("not-a-uuid", LOCAL_USER_ID)
    assert len(await chat.messages(mine.id, LOCAL_USER_ID)) == 2


async def test_rename_delete_and_resume_after_a_restart(
    wb: Workbench, chat: ChatService, settings: Any, registry: Any
) -> None:
    agent = await plain_agent(wb, node("m0", EchoBlock))
    session = await chat.create_session(LOCAL_USER_ID, agent)
    await collect(chat.send(session.id, LOCAL_USER_ID, "remember me"))
    renamed = await chat.rename(session.id, LOCAL_USER_ID, "  Kept   for later ")
    assert renamed.title == "Kept for later"
    with pytest.raises(InputError, match="title: empty"):
        await chat.rename(session.id, LOCAL_USER_ID, " ")
    gone = await chat.create_session(LOCAL_USER_ID, agent, title="To delete")
    await chat.delete(gone.id, LOCAL_USER_ID)

    # Another Workbench on the same database (as after a restart) finds the conversation.
    async with Workbench(settings, registry=registry, resume=False) as again:
        later = ChatService.of(again)
        listed = await later.sessions(LOCAL_USER_ID, agent)
        assert [s.title for s in listed] == ["Kept for later"]
        assert [(m.role, m.text) for m in await later.messages(session.id, LOCAL_USER_ID)] == [
            ("user", "remember me"),
            ("assistant", "remember me"),
        ]
