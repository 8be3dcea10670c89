"""Chat in a real browser, as a person uses it: open an agent from its link, send a message to an agent
backed by the local OpenAI-compatible server and watch the reply arrive in pieces while the run still
goes on, unfold the reply's node steps, stop a long reply, retry, reload and find the conversation;
an agent without a text input gets a clear message; a second user sees none of the first one's chats. Every request stays on 127.0.0.1 (the ``browser``
fixture fails the test otherwise); screenshots go to /tmp/shots/ui/."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from blocks.ai import AITextGeneratorBlock
from blocks.text import FillTextTemplateBlock
from blocks.time import CountdownTimerBlock
from tests.engine.graphs import graph, inp, link, node, out
from tests.server.api_support import signup
from tests.support.browser import TIMEOUT
from tests.support.openai_server import LLMServer, serve
from tests.support.servers import ServerProcess, start_server, stop_server
from tests.ui.conftest import Browser

PAGE_TIMEOUT = TIMEOUT
REPLY = "Foxes are quick and clever animals that live almost everywhere."
LONG_REPLY = "Once upon a time " + "a fox ran through the woods and " * 30 + "slept."

RECORD_REPLIES = """
() => {
  // Bokeh draws inside shadow roots: look through them, every few milliseconds.
  const deep = (root, found) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.classList.contains('wb-reply')) found.push(el);
      if (el.shadowRoot) deep(el.shadowRoot, found);
    }
    return found;
  };
  window.wbReplyTexts = [];
  setInterval(() => {
    const all = deep(document, []);
    if (!all.length) return;
    const last = all[all.length - 1];
    const parts = last.shadowRoot ? Array.from(last.shadowRoot.children) : [last];
    const text = parts.filter((c) => !['STYLE', 'LINK'].includes(c.tagName))
      .map((c) => c.innerText).join('').trim();
    const list = window.wbReplyTexts;
    if (text && list[list.length - 1] !== text) list.push(text);
  }, 5);
}
"""


TOKEN_DELAY = 0.15
"""Seconds the slow proxy holds each streamed chunk: an LLM that writes at a human pace."""


class SlowStream(BaseHTTPRequestHandler):
    """Forwards a POST to the local LLM server and passes its answer on one line at a time, each
    ``TOKEN_DELAY`` seconds after the last (an SSE stream then arrives token by token)."""

    upstream = ""

    def do_POST(self) -> None:
        """Forward, slowly (a client that hangs up, as a cancelled run does, ends it)."""
        try:
            self._forward()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
        with httpx.stream("POST", self.upstream + self.path, content=body, headers=headers, timeout=60) as up:
            self.send_response(up.status_code)
            self.send_header("Content-Type", up.headers.get("content-type", "application/json"))
            self.send_header("Connection", "close")
            self.end_headers()
            streaming = "event-stream" in up.headers.get("content-type", "")
            for line in up.iter_lines():
                self.wfile.write(line.encode() + b"\n")
                self.wfile.flush()
                if streaming and line.startswith("data:"):
                    time.sleep(TOKEN_DELAY)

    def log_message(self, *_args: Any) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def chat_llm() -> Iterator[LLMServer]:
    with serve() as llm:
        yield llm


@pytest.fixture(scope="module")
def slow_llm_url(chat_llm: LLMServer) -> Iterator[str]:
    """The base URL of a slow proxy in front of the local LLM server."""
    handler = type("Handler", (SlowStream,), {"upstream": chat_llm.base_url.rsplit("/v1", 1)[0]})
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{proxy.server_address[1]}/v1"
    proxy.shutdown()
    proxy.server_close()


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory: pytest.TempPathFactory, slow_llm_url: str) -> Iterator[ServerProcess]:
    """``workbench serve --auth none`` with the apps, its LLM the local test server (on loopback,
    which the outbound guard allows only with WORKBENCH_HTTP_ALLOW)."""
    env = {
        "WORKBENCH_RATE_LIMIT": "off",
        "WORKBENCH_HTTP_ALLOW": "127.0.0.0/8",
        "WORKBENCH_LLM_BASE_URL": slow_llm_url,
        "WORKBENCH_LLM_API_KEY": "test-key",
    }
    server = start_server(tmp_path_factory.mktemp("ui-chat") / "home", "none", env, ui=True)
    yield server
    stop_server(server)


def create_agent(server: ServerProcess, doc: dict[str, Any]) -> str:
    response = httpx.post(server.base_url + "/api/v1/graphs", json=doc, timeout=30)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def fox_agent(wait_seconds: int) -> dict[str, Any]:
    """message in, the LLM's answer out as ``reply``; then a timer keeps the run going a while."""
    g = graph(
        [
            inp("in", "message"),
            node("gen", AITextGeneratorBlock, model="gpt-4o-mini", prompt="{{ message }}"),
            out("out", "reply"),
            node("wait", CountdownTimerBlock, seconds=wait_seconds),
            out("done", "done"),
        ],
        [
            link("in.result", "gen.prompt_values_#_message"),
            link("gen.response", "out.value"),
            link("gen.response", "wait.input_message"),
            link("wait.output_message", "done.value"),
        ],
        name=f"Fox expert {wait_seconds}s",
    )
    return g.model_dump(mode="json")


async def test_chat_streams_stops_and_resumes(
    chat_server: ServerProcess, chat_llm: LLMServer, browser: Browser
) -> None:
    server = chat_server
    assert server.ui_url is not None
    agent = create_agent(server, fox_agent(wait_seconds=3))
    chat_llm.script({"content": REPLY})
    context = await browser.context()
    page = await browser.page(context)

    await page.goto(f"{server.ui_url}/chat?agent={agent}")
    box = page.get_by_placeholder("Message the agent (Enter sends)")
    await box.wait_for(timeout=PAGE_TIMEOUT)
    await page.evaluate(RECORD_REPLIES)
    await box.fill("Tell me about foxes")
    await box.press("Enter")

    # The whole reply is there while the run goes on (its timer still waits): it streamed.
    await page.locator(".wb-reply", has_text=REPLY).wait_for(timeout=PAGE_TIMEOUT)
    assert await page.get_by_role("button", name="Stop").is_enabled()
    texts = await page.evaluate("window.wbReplyTexts")
    assert len(texts) >= 2 and texts[-1] == REPLY, texts
    assert all(REPLY.startswith(t) for t in texts), texts  # growing prefixes: token by token
    await browser.shot(page, "chat-streaming")

    # The run ends; its steps fold under the reply.
    ended = page.locator(".wb-steps-title", has_text=re.compile(r"^Run steps: 5 nodes$"))
    await ended.wait_for(timeout=PAGE_TIMEOUT)
    assert not await page.get_by_role("button", name="Stop").is_enabled()
    await page.locator(".wb-steps-title").last.click()
    await page.get_by_text("AITextGeneratorBlock").first.wait_for(timeout=PAGE_TIMEOUT)
    await page.wait_for_timeout(500)
    await browser.shot(page, "chat-steps")

    # A long reply, stopped while it streams: the run is cancelled, the reply keeps what had arrived
    # and says it was stopped.
    chat_llm.script({"content": LONG_REPLY})
    long_agent = create_agent(server, fox_agent(wait_seconds=60))
    await page.goto(f"{server.ui_url}/chat?agent={long_agent}")
    await box.wait_for(timeout=PAGE_TIMEOUT)
    await box.fill("Tell me a long story")
    await box.press("Enter")
    await page.locator(".wb-reply", has_text="Once upon a time").wait_for(timeout=PAGE_TIMEOUT)
    await page.get_by_role("button", name="Stop").click()
    await page.get_by_text("Stopped: the run was cancelled.").wait_for(timeout=PAGE_TIMEOUT)
    partial = " ".join(await page.locator(".wb-reply").last.locator("p").all_inner_texts()).strip()
    assert partial.startswith("Once upon a time") and len(partial) < len(LONG_REPLY), partial
    await page.wait_for_timeout(500)
    await browser.shot(page, "chat-stopped")
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as api:
        runs = (await api.get("/api/v1/executions", params={"limit": 1})).json()
    assert runs["items"][0]["status"] == "CANCELLED"

    # Reload: the conversations are listed; the first one opens with its reply.
    await page.goto(f"{server.ui_url}/chat?agent={agent}")
    await page.locator(".wb-reply", has_text=REPLY).wait_for(timeout=PAGE_TIMEOUT)
    sessions = page.locator(".wb-sessions button")
    names = [await b.inner_text() for b in await sessions.all()]
    assert "Chat with Fox expert 3s" in names and "Chat with Fox expert 60s" in names
    await page.get_by_role("button", name="Chat with Fox expert 60s").click()
    await page.get_by_text("Stopped: the run was cancelled.").wait_for(timeout=PAGE_TIMEOUT)
    # What had arrived before the stop is kept, in the same reply as the error.
    await page.locator(".wb-reply", has_text=partial).wait_for(timeout=PAGE_TIMEOUT)
    assert await page.locator(".wb-reply", has_text=REPLY).count() == 0  # the other conversation is gone

    # Retry sends the last message again.
    chat_llm.script({"content": "Second try."})
    await page.get_by_role("button", name="Retry").click()
    await page.locator(".wb-reply", has_text="Second try.").wait_for(timeout=PAGE_TIMEOUT)
    await page.get_by_role("button", name="Stop").click()
    await page.get_by_text("Stopped: the run was cancelled.").nth(1).wait_for(timeout=PAGE_TIMEOUT)
    await page.wait_for_timeout(500)
    await browser.shot(page, "chat-resumed")
    await context.close()


async def test_an_agent_without_text_pins_gets_a_clear_message(
    chat_server: ServerProcess, browser: Browser
) -> None:
    server = chat_server
    assert server.ui_url is not None
    g = graph([inp("in", "name"), out("out", "greeting")], [link("in.result", "out.value")], name="Greeter")
    agent = create_agent(server, g.model_dump(mode="json"))
    context = await browser.context()
    page = await browser.page(context)
    await page.goto(f"{server.ui_url}/chat?agent={agent}")
    await page.get_by_text("cannot chat: no input 'message'").wait_for(timeout=PAGE_TIMEOUT)
    await page.wait_for_timeout(1000)  # let the page finish drawing
    await browser.shot(page, "chat-no-text-pins")
    # Mapping its pins lets it chat.
    await page.get_by_role("button", name="Chat with these pins").click()
    box = page.get_by_placeholder("Message the agent (Enter sends)")
    await box.fill("Ada")
    await box.press("Enter")
    await page.locator(".wb-reply", has_text="Ada").wait_for(timeout=PAGE_TIMEOUT)
    await page.wait_for_timeout(500)
    await browser.shot(page, "chat-mapped")
    await context.close()


async def _log_in(page: Any, ui_url: str, email: str, password: str) -> None:
    await page.goto(ui_url + "/chat")
    await page.wait_for_url(re.compile(r"/login\?next="))
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(lambda url: "/login" not in url)
    await page.locator(".wb-email").wait_for(timeout=PAGE_TIMEOUT)
    assert await page.locator(".wb-email").inner_text() == email, page.url


async def test_a_second_user_sees_none_of_the_first_users_chats(
    ui_accounts_server: ServerProcess, browser: Browser
) -> None:
    server = ui_accounts_server
    assert server.ui_url is not None
    ada, bob = signup(server, "chat-ada"), signup(server, "chat-bob")
    g = graph(
        [inp("in", "message"), node("t", FillTextTemplateBlock, format="Echo: {{ m }}"), out("out", "reply")],
        [link("in.result", "t.values_#_m"), link("t.output", "out.value")],
        name="Ada's echo",
    )
    created = ada.client.post("/graphs", json=g.model_dump(mode="json"))
    assert created.status_code == 201, created.text
    agent = created.json()["id"]

    context = await browser.context()
    page = await browser.page(context)
    await _log_in(page, server.ui_url, ada.email, ada.password)
    await page.goto(f"{server.ui_url}/chat?agent={agent}")
    box = page.get_by_placeholder("Message the agent (Enter sends)")
    await box.fill("my secret plan")
    await box.press("Enter")
    await page.locator(".wb-reply", has_text="Echo: my secret plan").wait_for(timeout=PAGE_TIMEOUT)
    await page.get_by_role("button", name="Chat with Ada's echo").wait_for(timeout=PAGE_TIMEOUT)
    await browser.shot(page, "chat-first-user")
    await context.close()

    other = await browser.context()
    page = await browser.page(other)
    await _log_in(page, server.ui_url, bob.email, bob.password)
    await page.get_by_text("You have no agents yet").wait_for(timeout=PAGE_TIMEOUT)
    assert await page.get_by_text("No conversations yet.").count() == 1
    await page.goto(f"{server.ui_url}/chat?agent={agent}")  # Ada's agent, by its id
    await page.get_by_text("No conversations yet.").wait_for(timeout=PAGE_TIMEOUT)
    await page.get_by_text("You have no agents yet").wait_for(timeout=PAGE_TIMEOUT)
    assert await page.get_by_text("my secret plan").count() == 0
    assert await page.get_by_text("Ada's echo").count() == 0
    await page.wait_for_timeout(500)
    await browser.shot(page, "chat-second-user")
    await other.close()
    ada.close()
    bob.close()
