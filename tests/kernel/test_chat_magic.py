"""``%wb chat GRAPH``: the web Chat in a notebook cell, in a real kernel. The cell shows the page on
the agent; a message sent from the cell's message box gets its reply in the displayed component (a
streaming agent's reply token by token, on the kernel's loop) and the conversation is stored; pins
named otherwise are mapped with flags; an agent without a text input, and a remote connection, get a
clear message; every script and style of the output is inline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.kernel.harness import CellResult, Kernel, connected_kernel_with_llm
from tests.kernel.test_monitor_magic import assert_self_contained
from tests.support.openai_server import LLMServer, serve

EXEC = "application/vnd.holoviews_exec.v0+json"
"""The mime type of a Panel component's output."""
REPLY = "Foxes are quick and clever."

AGENTS = """
import asyncio
import threading
import time
from workbench.graph.builder import GraphBuilder

def echo_agent(name, message="message", reply="reply"):
    g = GraphBuilder(name)
    said = g.input(message)
    echo = g.add("FillTextTemplateBlock", format="You said: {{ said }}")
    said.result >> echo.values["said"]
    echo.output >> g.output(reply).value
    return g

echo = wb.save_graph(echo_agent("Echo agent"))
asker = wb.save_graph(echo_agent("Asker", message="question", reply="answer"))
quiet = GraphBuilder("No input agent")
quiet_text = quiet.add("FillTextTemplateBlock", format="nothing to say", values={})
quiet_text.output >> quiet.output("reply").value
quiet = wb.save_graph(quiet)
llm = GraphBuilder("LLM agent")
question = llm.input("message")
gen = llm.add("AITextGeneratorBlock", model="gpt-4o-mini", prompt="{{ message }}")
question.result >> gen.prompt_values["message"]
gen.response >> llm.output("reply").value
wait = llm.add("CountdownTimerBlock", seconds=2)  # the run goes on after the reply
gen.response >> wait.input_message
wait.output_message >> llm.output("done").value

def conversation(page):
    \"\"\"The conversation as the page shows it: the user's texts, and each reply's text or error.\"\"\"
    shown = []
    for entry in page._interface.objects:
        if isinstance(entry.object, str):
            shown.append(["You", entry.object])
        else:
            text, error, _steps = entry.object.objects
            shown.append(["Agent", text.object] if not error.visible else ["Error", error.object])
    return shown

async def say(page, text, timeout=60):
    \"\"\"Send ``text`` from the page's message box and wait for the reply to end.\"\"\"
    before = len(page._interface.objects)
    page._interface.send(text, user="You")
    deadline = time.monotonic() + timeout
    while len(page._interface.objects) < before + 2 or page.busy:
        assert time.monotonic() < deadline, f"no reply within {timeout}s: {conversation(page)}"
        await asyncio.sleep(0.02)
    return conversation(page)[-1]

def displayed_texts(page):
    \"\"\"The texts of the Bokeh document the cell displayed (what the frontend is sent).\"\"\"
    docs = {model.document for model, _ in page._layout._models.values()}
    assert docs and None not in docs, "the page was not displayed"
    return [str(m.text) for doc in docs for m in doc.models if isinstance(getattr(m, "text", None), str)]
"""


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with serve() as server:
        yield server


@pytest.fixture(scope="module")
def chat_kernel(tmp_path_factory: pytest.TempPathFactory, llm: LLMServer) -> Iterator[Kernel]:
    """A connected kernel with the agents stored, its LLM the local test server (on loopback, allowed
    explicitly)."""
    kernel = connected_kernel_with_llm(Path(tmp_path_factory.mktemp("chat-magic-home")), llm.base_url)
    try:
        kernel.execute(AGENTS, timeout=60)
        yield kernel
    finally:
        kernel.close()


@pytest.fixture(scope="module")
def first_chat(chat_kernel: Kernel) -> CellResult:
    """The kernel's first ``%wb chat`` cell (the one that loads Bokeh and Panel), kept as ``c``."""
    cell = chat_kernel.execute('%wb chat "Echo agent"', timeout=120)
    chat_kernel.execute("c = _")
    return cell


def _result(cell: CellResult) -> dict[str, Any]:
    results = [o for o in cell.outputs if "execution_count" in o]
    assert len(results) == 1, cell.outputs
    return dict(results[0]["data"])


def test_the_cell_shows_the_chat_on_the_agent(chat_kernel: Kernel, first_chat: CellResult) -> None:
    data = _result(first_chat)
    assert EXEC in data
    bundle = json.dumps(data)
    for part in ("Echo agent", "Conversations", "New conversation", "Message the agent"):
        assert part in bundle, f"{part!r} is not in the Chat's output"
    state = chat_kernel.json(
        "{'agent': c.agent_id == echo.id, 'open': c._interface.visible and not c._interface.disabled, "
        "'notice': c._notice.visible, 'problem': c._problem.visible}"
    )
    assert state == {"agent": True, "open": True, "notice": False, "problem": False}


def test_a_message_gets_its_reply_in_the_cell_and_is_stored(
    chat_kernel: Kernel, first_chat: CellResult
) -> None:
    kernel = chat_kernel
    assert kernel.json("await say(c, 'Hello there')") == ["Agent", "You said: Hello there"]
    assert kernel.json("await say(c, 'And again')") == ["Agent", "You said: And again"]
    assert kernel.json("any('You said: And again' in text for text in displayed_texts(c))")
    session_id = kernel.json("c.session_id")
    assert session_id is not None
    # A new cell opens the same conversation, read back from the database.
    kernel.execute('again = %wb chat "Echo agent"')
    assert kernel.json("again.session_id") == session_id
    assert kernel.json("conversation(again)") == [
        ["You", "Hello there"],
        ["Agent", "You said: Hello there"],
        ["You", "And again"],
        ["Agent", "You said: And again"],
    ]
    kernel.execute('fresh = %wb chat "Echo agent" --new')
    assert kernel.json("fresh.session_id") not in (None, session_id)
    assert kernel.json("conversation(fresh)") == []


def test_a_streamed_reply_reaches_the_cell_token_by_token(
    chat_kernel: Kernel, llm: LLMServer, first_chat: CellResult
) -> None:
    kernel = chat_kernel
    llm.script({"content": REPLY})
    kernel.execute(
        "talk = %wb chat llm\n"
        "seen, runs = [], []\n"
        "def shown(event):\n"
        "    on_kernel_loop = threading.current_thread() is threading.main_thread()\n"
        "    seen.append([event.new, time.time(), talk.busy, on_kernel_loop])\n"
        "def follow(event):  # the reply's text, from the moment its run starts\n"
        "    if event.new is not None:\n"
        "        runs.append(event.new)\n"
        "        talk._interface.objects[-1].object.objects[0].param.watch(shown, 'object')\n"
        "talk.param.watch(follow, 'execution_id')\n"
        "talk"
    )
    assert kernel.json("await say(talk, 'Tell me about foxes')") == ["Agent", REPLY]
    seen = kernel.json("seen")
    assert [text for text, *_ in seen] == [
        "Foxes ",
        "Foxes are ",
        "Foxes are quick ",
        "Foxes are quick and ",
        REPLY,
    ]
    assert all(busy and on_kernel_loop for _, _, busy, on_kernel_loop in seen), seen
    # Every piece was shown while the run went on (its timer waited 2 s more): it streamed.
    ended = kernel.json("wb.execution(runs[0]).ended_at.timestamp()")
    assert max(at for _, at, *_ in seen) < ended - 1, (seen, ended)
    assert kernel.json(f"any({REPLY!r} in text for text in displayed_texts(talk))")


def test_pins_named_otherwise_are_mapped_with_flags(chat_kernel: Kernel, first_chat: CellResult) -> None:
    kernel = chat_kernel
    cell = kernel.execute("%wb chat Asker", allow_error=True)
    assert (
        "%wb chat: agent 'Asker' cannot chat: no input 'message' (its inputs: question); "
        "no output 'reply' (its outputs: answer). Chat needs a text input and a text output: "
        "name them with --message INPUT --reply OUTPUT"
    ) in cell.stderr, cell.stderr
    assert not [o for o in cell.outputs if EXEC in o.get("data", {})]
    kernel.execute("mapped = %wb chat Asker --message question --reply answer")
    assert kernel.json("[mapped._notice.visible, mapped._mapping.visible, mapped.agent_id == asker.id]") == [
        False,
        False,
        True,
    ]
    assert kernel.json("await say(mapped, 'Why?')") == ["Agent", "You said: Why?"]
    kernel.execute("again = %wb chat Asker --message question --reply answer")
    assert kernel.json("again.session_id == mapped.session_id")
    assert kernel.json("conversation(again)") == [["You", "Why?"], ["Agent", "You said: Why?"]]
    cell = kernel.execute("%wb chat Asker --message nope --reply answer", allow_error=True)
    assert "agent 'Asker' cannot chat: no input 'nope' (its inputs: question)" in cell.stderr


def test_an_agent_without_a_text_input_is_refused(chat_kernel: Kernel, first_chat: CellResult) -> None:
    cell = chat_kernel.execute("%wb chat 'No input agent'", allow_error=True)
    assert (
        "%wb chat: agent 'No input agent' cannot chat: no input 'message' (its inputs: none). "
        "Chat needs a text input and a text output"
    ) in cell.stderr, cell.stderr
    cell = chat_kernel.execute("%wb chat 'No such agent'", allow_error=True)
    assert "%wb chat: no graph 'No such agent'" in cell.stderr and "'Echo agent'" in cell.stderr


def test_a_remote_connection_is_refused(chat_kernel: Kernel, first_chat: CellResult) -> None:
    cell = chat_kernel.execute(
        "from kernel_ext import session\n"
        "from workbench.client import Client, RemoteClient\n"
        "local, remote = session.current(), Client(RemoteClient('http://127.0.0.1:9', api_key='wbk_x'))\n"
        "session._client = remote  # connected elsewhere: no server answers there, none is asked\n"
        "try:\n"
        "    %wb chat 'Echo agent'\n"
        "finally:\n"
        "    session._client = local\n"
        "    remote.close()",
        allow_error=True,
    )
    assert (
        "%wb chat: the Chat shows in a notebook only on the local platform (%wb connect); this kernel is "
        "connected to http://127.0.0.1:9: open that server's Chat page instead"
    ) in cell.stderr, cell.stderr
    assert chat_kernel.json("session.current() is wb")


def test_everything_is_inline(first_chat: CellResult) -> None:
    texts = []
    for output in first_chat.outputs:
        texts += [v if isinstance(v, str) else json.dumps(v) for v in output.get("data", {}).values()]
    assert_self_contained(texts)
    assert not [text for text in texts if "<script src=" in text.replace("'", '"').lower()]
