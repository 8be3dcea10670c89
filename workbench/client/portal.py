"""The synchronous client: an :class:`AsyncClient` driven from its own event loop in a daemon thread
(anyio's blocking portal).

A notebook cell, a magic or a widget callback calls ``wb.run(graph, inputs)`` and gets the result; runs
started with ``wb.start(...)`` go on in the client's thread while the kernel is free for other cells,
and tell their listeners (the live widget) about each event as it happens. Every method is also
awaitable through the run handle: ``await wb.start(graph, inputs)``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import queue
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from types import TracebackType
from typing import Any, TypeVar

from anyio.from_thread import start_blocking_portal

from workbench.client.base import AsyncClient, GraphRef
from workbench.client.files import BlockingFiles
from workbench.runtime.events import ExecutionEvent
from workbench.services.executions import ExecutionResult

T = TypeVar("T")
Listener = Callable[[ExecutionEvent], None]
START_TIMEOUT = 60.0


async def _awaited(coro: Coroutine[Any, Any, T]) -> T:
    return await coro


class Portal:
    """An event loop running in a thread of its own (anyio's blocking portal); coroutines are sent to
    it from any other thread. ``stop`` cancels what still runs there and ends the thread."""

    def __init__(self) -> None:
        self._exit = contextlib.ExitStack()
        self._portal = self._exit.enter_context(start_blocking_portal("asyncio"))
        self._running = True

    @property
    def running(self) -> bool:
        """Whether the loop still takes work (``stop`` not called yet)."""
        return self._running

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the portal's loop; cancelling the future cancels it. Returns once the
        loop has taken the task (it waits while that thread runs synchronous code, a listener)."""
        try:
            return self._portal.start_task_soon(_awaited, coro)
        except RuntimeError as exc:
            coro.close()
            if not self._running:
                raise RuntimeError("the client is closed") from None
            raise RuntimeError(
                f"a blocking client call from the client's own thread would deadlock ({exc})"
            ) from None

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the portal's loop and return its result (blocking this thread)."""
        return self.submit(coro).result(timeout)

    def stop(self) -> None:
        """Cancel the tasks still running (runs in the background, listeners) and end the thread."""
        if not self._running:
            return
        self._running = False
        with contextlib.suppress(RuntimeError):  # stopped already (its loop ended)
            self._portal.call(self._portal.stop, True)
        self._exit.close()


class RunHandle:
    """A run going on in the client's thread: its execution id, its events, its result, cancel.

    ``await handle`` or ``handle.result()`` give the :class:`ExecutionResult`; ``for e in
    handle.events()`` or ``async for e in handle`` give the events from the start; ``add_listener``
    calls a function (in the client's thread) for every event, past ones first.
    """

    def __init__(self, client: Client) -> None:
        self.client = client
        self.execution_id: str | None = None
        self.history: list[ExecutionEvent] = []
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._started = threading.Event()
        self._future: concurrent.futures.Future[ExecutionResult] = concurrent.futures.Future()
        self._start_error: BaseException | None = None

    async def _drive(self, aiter: AsyncIterator[ExecutionEvent]) -> None:
        """Read the run's events (in the client's thread) until the final one, then fetch the result."""
        try:
            async for event in aiter:
                self._record(event)
            assert self.execution_id is not None, "a run ended without any event"
            result = await self.client.inner.execution(self.execution_id)
            self._future.set_result(result)
        except BaseException as exc:
            if not self._started.is_set():
                self._start_error = exc
            if not self._future.done():
                self._future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            self._started.set()

    def _record(self, event: ExecutionEvent) -> None:
        with self._lock:
            if self.execution_id is None:
                self.execution_id = event.execution_id
                self._started.set()
            if event.execution_id != self.execution_id:
                return
            self.history.append(event)
            listeners = list(self._listeners)
        for listener in listeners:
            listener(event)

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(event)`` for each event: the past ones now, the next ones as they happen.

        Later events reach it in the client's thread, which it holds meanwhile: a listener must not
        wait for a lock that a thread calling the client may hold (every client call waits for that
        thread, so the two would wait for each other)."""
        with self._lock:
            past = list(self.history)
            self._listeners.append(listener)
        for event in past:
            listener(event)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener``."""
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    @property
    def done(self) -> bool:
        """Whether the run has ended (its result is known)."""
        return self._future.done()

    def result(self, timeout: float | None = None) -> ExecutionResult:
        """Wait for the end of the run (TimeoutError after ``timeout`` seconds; the run goes on)."""
        return self._future.result(timeout)

    def __await__(self) -> Any:
        return asyncio.wrap_future(self._future).__await__()

    def cancel(self) -> str:
        """Stop the run; returns its status after the request."""
        if self.execution_id is None:
            raise RuntimeError("the run has not started")
        return self.client.cancel(self.execution_id)

    def events(self, timeout: float | None = None) -> Iterator[ExecutionEvent]:
        """The run's events from its start, blocking for each next one until the final one."""
        inbox: queue.Queue[ExecutionEvent] = queue.Queue()
        self.add_listener(inbox.put)
        try:
            while True:
                event = inbox.get(timeout=timeout)
                yield event
                if event.is_final:
                    return
        finally:
            self.remove_listener(inbox.put)

    async def __aiter__(self) -> AsyncIterator[ExecutionEvent]:
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[ExecutionEvent] = asyncio.Queue()

        def listener(event: ExecutionEvent) -> None:
            loop.call_soon_threadsafe(inbox.put_nowait, event)

        self.add_listener(listener)
        try:
            while True:
                event = await inbox.get()
                yield event
                if event.is_final:
                    return
        finally:
            self.remove_listener(listener)

    def __repr__(self) -> str:
        state = "done" if self.done else "running"
        return f"<RunHandle {self.execution_id} {state}>"


def _bridge(name: str) -> Any:
    """A blocking method that runs ``AsyncClient.<name>`` in the client's thread."""
    method = getattr(AsyncClient, name)

    def call(self: Client, *args: Any, **kwargs: Any) -> Any:
        return self.portal.call(getattr(self.inner, name)(*args, **kwargs))

    call.__name__ = call.__qualname__ = name
    call.__doc__ = method.__doc__
    call.__signature__ = inspect.signature(method)  # type: ignore[attr-defined]
    return call


class Client:
    """The blocking client: the methods of :class:`AsyncClient`, run in the client's own thread."""

    def __init__(self, inner: AsyncClient, portal: Portal | None = None) -> None:
        self.inner = inner
        self.portal = portal or Portal()

    @property
    def kind(self) -> str:
        """``local`` or ``remote``."""
        return self.inner.kind

    @property
    def where(self) -> str:
        """The data folder or the server URL."""
        return self.inner.where

    @property
    def files(self) -> BlockingFiles:
        """Your files in the file store: ``upload``, ``list``, ``get``, ``download``, ``delete``."""
        return BlockingFiles(lambda: self.inner.files, self.portal.call)

    def open(self) -> Client:
        """Connect (``connect()`` already did)."""
        self.portal.call(self.inner.start())
        return self

    def close(self) -> None:
        """Disconnect and stop the client's thread."""
        if self.portal.running:
            try:
                self.portal.call(self.inner.close(), timeout=30)
            finally:
                self.portal.stop()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(
        self,
        graph: GraphRef,
        inputs: dict[str, Any] | None = None,
        *,
        version: int | None = None,
        credentials: dict[str, str] | None = None,
    ) -> RunHandle:
        """Start a run that goes on in the background; returns once it has started (bad inputs raise)."""
        handle = RunHandle(self)
        events = self.inner.events(graph, inputs, version=version, credentials=credentials)
        self.portal.submit(handle._drive(events))
        if not handle._started.wait(START_TIMEOUT):
            raise TimeoutError(f"the run did not start within {START_TIMEOUT:g}s")
        if handle._start_error is not None:
            raise handle._start_error
        return handle

    def stream(
        self, graph: GraphRef, inputs: dict[str, Any] | None = None, **kwargs: Any
    ) -> Iterator[ExecutionEvent]:
        """Run and yield the events as they happen, until the final one."""
        return self.start(graph, inputs, **kwargs).events()

    blocks = _bridge("blocks")
    block = _bridge("block")
    graphs = _bridge("graphs")
    create_graph = _bridge("create_graph")
    update_graph = _bridge("update_graph")
    save_graph = _bridge("save_graph")
    load_graph = _bridge("load_graph")
    export_graph = _bridge("export_graph")
    delete_graph = _bridge("delete_graph")
    agent_tools = _bridge("agent_tools")
    serve_as_tool = _bridge("serve_as_tool")
    submit = _bridge("submit")
    wait = _bridge("wait")
    run = _bridge("run")
    cancel = _bridge("cancel")
    execution = _bridge("execution")
    delete_execution = _bridge("delete_execution")
    run_block = _bridge("run_block")
    executions = _bridge("executions")
    retention = _bridge("retention")
    set_retention = _bridge("set_retention")
    reviews = _bridge("reviews")
    review = _bridge("review")
    decide_review = _bridge("decide_review")
    approve_review = _bridge("approve_review")
    reject_review = _bridge("reject_review")
    create_schedule = _bridge("create_schedule")
    schedules = _bridge("schedules")
    update_schedule = _bridge("update_schedule")
    pause_schedule = _bridge("pause_schedule")
    resume_schedule = _bridge("resume_schedule")
    schedule_runs = _bridge("schedule_runs")
    delete_schedule = _bridge("delete_schedule")
    create_trigger = _bridge("create_trigger")
    triggers = _bridge("triggers")
    rotate_trigger_secret = _bridge("rotate_trigger_secret")
    delete_trigger = _bridge("delete_trigger")
    notifications = _bridge("notifications")
    unread_count = _bridge("unread_count")
    mark_read = _bridge("mark_read")
    notification_preferences = _bridge("notification_preferences")
    set_notification_preferences = _bridge("set_notification_preferences")
    add_notification_channel = _bridge("add_notification_channel")
    notification_channels = _bridge("notification_channels")
    delete_notification_channel = _bridge("delete_notification_channel")
    notification_deliveries = _bridge("notification_deliveries")
    notify = _bridge("notify")
    add_credential = _bridge("add_credential")
    credentials = _bridge("credentials")
    delete_credential = _bridge("delete_credential")
    publish_template = _bridge("publish_template")
    templates = _bridge("templates")
    template = _bridge("template")
    template_graph = _bridge("template_graph")
    fork_template = _bridge("fork_template")
    unpublish_template = _bridge("unpublish_template")
    draft = _bridge("draft")
    draft_agent = _bridge("draft_agent")
    create_knowledge_base = _bridge("create_knowledge_base")
    knowledge_bases = _bridge("knowledge_bases")
    knowledge_base = _bridge("knowledge_base")
    delete_knowledge_base = _bridge("delete_knowledge_base")
    add_document = _bridge("add_document")
    documents = _bridge("documents")
    delete_document = _bridge("delete_document")
    search = _bridge("search")
    mcp_tools = _bridge("mcp_tools")

    def __repr__(self) -> str:
        return f"<workbench Client {self.kind} {self.where}>"
