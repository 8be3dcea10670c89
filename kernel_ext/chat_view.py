"""The web Chat (:mod:`workbench.ui.chat`) in a notebook cell, for ``%wb chat GRAPH``.

As for ``%wb monitor`` (:mod:`kernel_ext.monitor_view`), the page is the one the web server builds,
for the local client's user on the client's workbench. The chat service's database pool and event
bus belong to the client's event loop (in a thread of its own), while the page's buttons and its
message box are handled on the kernel's loop; :class:`StreamingService` sends every call of the
service to the client's loop:

- a coroutine (agents, conversations, stop) is run there and awaited, as :class:`LoopBoundService`
  does;
- a reply (an async iterator of :class:`~workbench.services.chat.ChatUpdate`) is read there by one
  task, which hands each update to the loop reading the reply as soon as it comes
  (:func:`relay`): the tokens reach the cell one by one while the run goes on.

Bokeh's and Panel's JavaScript and styles are inline, and so is the icon font of the page's buttons
(:func:`~kernel_ext.icon_font.load_icon_font`): the output needs no CDN, in JupyterLab or in an
exported notebook.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import panel as pn

from kernel_ext.icon_font import load_icon_font
from kernel_ext.monitor_view import LoopBoundService, local_client
from workbench.client.base import GraphRef, as_graph
from workbench.client.portal import Client
from workbench.errors import InputError, WorkbenchError
from workbench.services.chat import ChatAgent, ChatPins, ChatService
from workbench.store.chat import ChatSessionRecord
from workbench.ui.chat import ChatPage
from workbench.ui.chat_store import ChatStore
from workbench.ui.context import UiContext

T = TypeVar("T")
CLOSED = "this chat's workbench client is closed (%wb connect replaced it): run %wb chat again"


async def relay(items: AsyncIterator[T], submit: Callable[[Any], Any]) -> AsyncIterator[T]:
    """``items`` read on another event loop (``submit`` schedules a coroutine there and returns a
    concurrent future), yielded on this one as each arrives; its errors are raised here. Leaving
    early cancels the reading."""
    here = asyncio.get_running_loop()
    inbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def hand(kind: str, value: Any) -> None:
        with contextlib.suppress(RuntimeError):  # this loop has closed: nobody is reading any more
            here.call_soon_threadsafe(inbox.put_nowait, (kind, value))

    async def read() -> None:
        try:
            async for item in items:
                hand("item", item)
        except BaseException as exc:
            hand("error", exc)
            if not isinstance(exc, Exception):
                raise
        else:
            hand("end", None)

    try:
        reading = submit(read())
    except RuntimeError:  # the client's loop has stopped
        raise WorkbenchError(CLOSED) from None
    try:
        while True:
            kind, value = await inbox.get()
            if kind == "end":
                return
            if kind == "error":
                if isinstance(value, asyncio.CancelledError):  # cancelled there, not by this reader
                    raise WorkbenchError(CLOSED)
                raise value
            yield value
    finally:
        reading.cancel()


class StreamingService(LoopBoundService):
    """A :class:`LoopBoundService` whose async generator methods stream too: a call returns an async
    iterator whose items are produced on the service's loop (see :func:`relay`)."""

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._service, name)
        if not inspect.isasyncgenfunction(attr):
            return super().__getattr__(name)
        loop, submit = self._loop, self._submit

        @functools.wraps(attr)
        async def from_its_loop(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            items = attr(*args, **kwargs)
            if asyncio.get_running_loop() is loop:
                async for item in items:
                    yield item
                return
            async for item in relay(items, submit):
                yield item

        return from_its_loop


def load_inline() -> None:
    """Panel's and Bokeh's JavaScript and styles, and the buttons' icon font, inline in the cell's
    output."""
    load_icon_font()
    pn.extension(inline=True)


async def _running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def _cannot_chat(agent: ChatAgent) -> InputError:
    """Why ``agent`` cannot chat, and how to name its pins."""
    problem = agent.problem or f"agent {agent.name!r} cannot chat"
    return InputError(
        f"{problem}. Chat needs a text input and a text output: name them with "
        "--message INPUT --reply OUTPUT (and --history INPUT for the conversation so far)"
    )


async def _conversation(store: ChatStore, agent_id: str, pins: ChatPins, new: bool) -> ChatSessionRecord:
    """The agent's latest conversation on ``pins``, or a new one (always, with ``new``)."""
    wanted = pins.to_dict()
    if not new:
        for session in await store.sessions():
            if session.graph_id == agent_id and session.pins == wanted:
                return session
    return await store.create(agent_id, wanted)


def chat(
    client: Client,
    graph: GraphRef,
    *,
    message: str | None = None,
    reply: str | None = None,
    history: str | None = None,
    new: bool = False,
) -> ChatPage:
    """The Chat of the client's user, opened on the agent ``graph``, ready to display in a cell.

    ``graph`` is a stored graph's id, or a Graph or GraphBuilder (saved first: conversations are
    stored with a stored agent). ``message``, ``reply`` and ``history`` name the agent's chat pins
    when they differ from the convention (``message`` in, ``reply`` out, optional ``history``).
    The page opens the agent's latest conversation (on those pins, when named), or a new one with
    ``new``; an agent without a conversation yet starts one with the first message.
    """
    local = local_client(client, "Chat")
    portal = client.portal
    graph_id = graph if isinstance(graph, str) else client.save_graph(as_graph(graph)).id
    service = StreamingService(ChatService.of(local.wb), portal.call(_running_loop()), portal.submit)
    ctx = UiContext(wb=local.wb, user_id=local.user_id, email=None)
    store = ChatStore(ctx, service)  # type: ignore[arg-type]  (the service, on the client's loop)
    pins = {"message": message, "reply": reply, "history": history}
    named = {pin: value for pin, value in pins.items() if value}
    agent = portal.call(store.agent(graph_id, named or None))
    if agent.pins is None:
        raise _cannot_chat(agent)
    session_id = None
    if named or new:
        session_id = portal.call(_conversation(store, agent.id, agent.pins, new)).id
    load_inline()
    page = ChatPage(store=store)
    portal.call(page.load(agent.id, session_id))
    return page
