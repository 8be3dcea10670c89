"""The notebook chat widget streams: in a real kernel whose LLM is the local OpenAI-compatible server,
the reply shows piece by piece (``partial`` grows, token by token) before the final reply lands in
``messages``; a failing node is named in the conversation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kernel.harness import Kernel, connected_kernel_with_llm
from tests.support.openai_server import LLMServer, serve

REPLY = "Foxes are quick and clever."

LLM_CHAT = """
from workbench.graph.builder import GraphBuilder
from kernel_ext.widgets import ChatWidget

g = GraphBuilder("LLM chat")
message = g.input("message")
gen = g.add("AITextGeneratorBlock", model="gpt-4o-mini", prompt="{{ message }}")
message.result >> gen.prompt_values["message"]
gen.response >> g.output("reply").value
chat = ChatWidget(wb, g)
chat
"""


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with serve() as server:
        yield server


@pytest.fixture(scope="module")
def llm_kernel(tmp_path_factory: pytest.TempPathFactory, llm: LLMServer) -> Iterator[Kernel]:
    """A kernel whose workbench talks to the local LLM server (on loopback, allowed explicitly)."""
    kernel = connected_kernel_with_llm(Path(tmp_path_factory.mktemp("chat-kernel-home")), llm.base_url)
    try:
        yield kernel
    finally:
        kernel.close()


def test_the_reply_streams_into_the_widget(llm_kernel: Kernel, llm: LLMServer) -> None:
    kernel = llm_kernel
    llm.script({"content": REPLY})
    kernel.execute(LLM_CHAT)
    chat_id = kernel.json("chat.model_id")
    assert kernel.json("chat.send('Tell me about foxes')") == REPLY
    updates = [state for _, state in kernel.updates_of(chat_id)]
    partials = [s["partial"] for s in updates if s.get("partial")]
    assert partials == ["Foxes ", "Foxes are ", "Foxes are quick ", "Foxes are quick and ", REPLY]
    final = next(
        i for i, s in enumerate(updates) if any(m["role"] == "assistant" for m in s.get("messages", []))
    )
    last_partial = max(i for i, s in enumerate(updates) if s.get("partial"))
    assert last_partial < final, "the pieces came before the reply"
    assert kernel.json("chat.partial") == "" and kernel.json("chat.busy") is False


def test_a_failing_node_is_named(llm_kernel: Kernel, llm: LLMServer) -> None:
    kernel = llm_kernel
    llm.script({"status": 400})
    kernel.execute(LLM_CHAT)
    cell = kernel.execute("chat.send('hello')", allow_error=True)
    assert cell.error is not None
    assert "The run failed at node" in cell.error["evalue"]
    assert "AITextGeneratorBlock" in cell.error["evalue"]
    messages = kernel.json("chat.messages")
    assert messages[-1]["role"] == "error"
