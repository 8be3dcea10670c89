"""The Workbench: one object wiring settings, storage, blocks, the bus and the services.

Every front door (CLI, notebook client, server) opens one::

    async with Workbench() as wb:                  # embedded PostgreSQL under WORKBENCH_HOME
        result = await wb.executions.run(graph, {"name": "Ada"})

    async with Workbench(ephemeral=True) as wb:    # nothing stored, no database started
        ...
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import asyncpg

from workbench import sandbox
from workbench.block.context import BlockServices
from workbench.block.registry import BlockRegistry, default_registry
from workbench.config import Settings
from workbench.files.scanning import FileScanner, open_scanner
from workbench.knowledge.embedders import EmbedderFactory
from workbench.knowledge.service import KnowledgeService
from workbench.knowledge.store import KnowledgeRepository
from workbench.net.policy import HttpPolicy
from workbench.runtime.bus import EventBus, LocalBus
from workbench.runtime.notify_queue import LocalNotifyQueue, NotifyQueue
from workbench.runtime.queue import ExecutionQueue
from workbench.runtime.shared_state import SharedState
from workbench.secrets import Keys
from workbench.services.account_mail import account_mailer
from workbench.services.accounts import AccountService
from workbench.services.agent_tools import AgentToolService
from workbench.services.credentials import CredentialVault
from workbench.services.executions import EXECUTOR_LOCK_CLASS, ExecutionService
from workbench.services.files import FileService
from workbench.services.graphs import GraphService
from workbench.services.notifications.service import NotificationService
from workbench.services.reviews import ReviewService
from workbench.store.accounts import AccountRepository
from workbench.store.blocks import sync_catalogue
from workbench.store.database import Database
from workbench.store.executions import ExecutionRepository
from workbench.store.graphs import GraphRepository
from workbench.store.notifications import NotificationRepository
from workbench.store.reviews import ReviewRepository
from workbench.store.writer import WriteBehind
from workbench.telemetry import tracing

if TYPE_CHECKING:
    from workbench.services.notifications.notifier import Notifier

log = logging.getLogger(__name__)
RUNS_SHARE = 0.8
"""The part of the stop timeout given to runs (finishing, then being handed back: see
:meth:`ExecutionService.shutdown`); the rest is for writing their state and closing connections."""


async def _within(work: Awaitable[Any], seconds: float, what: str) -> None:
    """Await ``work`` for up to ``seconds``; past that it is cancelled and the stop goes on (logged)."""
    try:
        await asyncio.wait_for(work, max(seconds, 0.0))
    except TimeoutError:
        log.warning("stopping: %s took too long; left unfinished", what)
    except Exception:
        log.exception("stopping: %s failed", what)


class Workbench:
    """Wires the services; ``start`` connects and resumes interrupted runs, ``stop`` releases all."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        registry: BlockRegistry | None = None,
        bus: EventBus | None = None,
        ephemeral: bool = False,
        resume: bool = True,
        consume: bool = False,
        role: str | None = None,
        notifier: bool | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.role = role or ("executor" if consume else "api")
        """What this process is (``api``, ``executor``, ``scheduler``, ``notifier``, ``cli``…): its
        presence and its traces' service name say it."""
        self.registry = registry or default_registry()
        if bus is None and self.settings.redis_url:
            from workbench.runtime.redis_bus import RedisBus

            bus = RedisBus(self.settings)
        self.bus = bus or LocalBus()
        self.ephemeral = ephemeral
        self.resume = resume
        self.db: Database | None = None if ephemeral else Database(self.settings)
        self.writer: WriteBehind | None = None
        self._lease: asyncpg.Connection | None = None
        self.executor_key: int | None = None
        self.graphs = GraphService(self.registry, self.settings, None)
        self.shared = SharedState(
            self.settings, role or ("executor" if consume else "api"), self._presence_doc
        )
        """Presence of the deployment's processes and the block result cache (Redis when configured)."""
        self.presence_extras: list[Callable[[], dict[str, Any]]] = []
        """Callables adding to this process's presence heartbeat (the API adds its WebSocket counts)."""
        self.block_services = BlockServices(shared=self.shared)
        """What running blocks may use (vault, pool, named services); filled in by :meth:`start`."""
        self.executions = ExecutionService(
            self.settings, self.registry, self.graphs, self.bus, block_services=self.block_services
        )
        self.reviews = ReviewService(self.settings, self.executions)
        """Human reviews: asked by blocks (through ``block_services``), answered by every front door."""
        self.block_services.reviews = self.reviews
        self.keys: Keys | None = None
        self.accounts: AccountService | None = None
        self.api_url: str | None = None
        """Where people reach this deployment's API (``https://wb.example.com``): the root of the
        links in account mails. The server sets it before :meth:`start`; None: the links are paths."""
        self.credentials: CredentialVault | None = None
        self.knowledge: KnowledgeService | None = None
        """Knowledge bases (durable workbenches only)."""
        self.files: FileService | None = None
        """Users' files (both kinds: records in PostgreSQL, or in JSON sidecars when ephemeral)."""
        self.scanner: FileScanner = open_scanner(self.settings)
        """Scans every file users bring in (``WORKBENCH_FILE_SCAN``); checked first in :meth:`start`."""
        self.consume = consume
        """Take executions from the queue (an executor process). With no AMQP_URL, runs are
        always dispatched in the process that submits them."""
        self.queue: ExecutionQueue | None = None
        """The execution queue: RabbitMQ with AMQP_URL, else the executions service's in-process one."""
        self.ui_url: str | None = None
        """Where people reach the web apps (``http://host:8010``): the root of the links in
        notifications. The launcher sets it before :meth:`start`; None: no links to pages."""
        self.notify_queue: NotifyQueue | None = None
        """The notifier's event queue (RabbitMQ with AMQP_URL, else in-process): runs that end here,
        schedule fires and blocks publish to it (durable workbenches only)."""
        self.run_notifier = notifier
        """Run the notifier here: True, False, or None for "without AMQP_URL, unless
        ``WORKBENCH_NOTIFIER=off``" (with AMQP_URL the ``workbench notifier`` processes do)."""
        self.notifier: Notifier | None = None
        self.started = False

    async def start(self) -> Workbench:
        """Connect to storage (starting the embedded server if needed), migrate, resume runs."""
        if self.started:
            return self
        sandbox.configure(self.settings)  # limits of the process's sandbox pool (started on first use)
        await self.scanner.start()  # first: with scanning on and no clamd, nothing else is started
        tracing.configure(self.role)  # OTEL_* variables: off unless they ask for it
        await self.bus.start()
        await self.shared.start()
        if self.db is not None:
            await self.db.start()
        await self._start_files()
        if self.db is not None:
            pool = self.db.pool
            self.executor_key = await self._take_lease()
            self.writer = WriteBehind(pool, self.settings.flush_interval)
            await self.writer.start()
            self.graphs.repo = GraphRepository(pool)
            if self.settings.amqp_url:
                from workbench.runtime.rabbit import RabbitQueue

                self.queue = RabbitQueue(self.settings.amqp_url)
                await self.queue.start()
            self.keys = Keys.load(self.settings)
            self.accounts = AccountService(
                AccountRepository(pool), self.keys, mailer=account_mailer(self.settings, api_url=self.api_url)
            )
            self.credentials = CredentialVault(pool, self.keys)
            self.block_services.vault = self.credentials
            self.block_services.pool = pool
            self.knowledge = KnowledgeService(
                KnowledgeRepository(pool),
                EmbedderFactory(self.credentials, policy=HttpPolicy.from_settings(self.settings)),
                scan=self.files.check if self.files is not None else None,
            )
            self.block_services.named["knowledge"] = self.knowledge
            self.executions = ExecutionService(
                self.settings,
                self.registry,
                self.graphs,
                self.bus,
                ExecutionRepository(pool),
                self.writer,
                self.executor_key,
                self.queue,
                self.block_services,
            )
            self.queue = self.executions.queue  # without AMQP_URL: the service's in-process queue
            self.reviews.connect(ReviewRepository(pool), self.executions, self.keys)
            if self.executions.worker is not None:
                self.executions.worker.on_review = self.reviews.resume
            await self._start_notifications()
            await sync_catalogue(pool, self.registry)
            if self.settings.amqp_url:
                if self.consume:
                    assert self.queue is not None and self.executions.sweeper is not None
                    await self.queue.consume(
                        self.executions.handle, concurrency=self.settings.executor_concurrency
                    )
                    self.executions.sweeper.start()
                    self.reviews.start_sweeping()
            elif self.resume:
                await self.executions.resume_interrupted()
                self.reviews.start_sweeping()  # runs are run here: so are reviews' timeouts
        self.started = True
        return self

    async def _start_notifications(self) -> None:
        """The notifier's queue (runs that end here publish to it) and, where it runs, the notifier."""
        assert self.db is not None and self.keys is not None
        from workbench.services.notifications.run_events import run_event

        if self.settings.amqp_url:
            from workbench.runtime.rabbit_notify import RabbitNotifyQueue

            self.notify_queue = RabbitNotifyQueue(self.settings.amqp_url)
        else:
            self.notify_queue = LocalNotifyQueue()
        await self.notify_queue.start()
        queue = self.notify_queue

        def finished(run: Any) -> None:
            event = run_event(run)
            if event is not None:
                queue.publish(event)

        self.executions.live.on_finished.append(finished)
        self.block_services.named["notifications"] = NotificationService(
            NotificationRepository(self.db.pool), self.keys, queue
        )
        wanted = self.run_notifier
        if wanted is None:
            wanted = not self.settings.amqp_url and os.environ.get("WORKBENCH_NOTIFIER", "").lower() not in (
                "off",
                "0",
                "false",
                "no",
            )
        if wanted:
            from workbench.notify.senders import default_senders  # loaded where a notifier runs
            from workbench.services.notifications.notifier import Notifier

            self.notifier = Notifier(
                NotificationRepository(self.db.pool),
                default_senders(self.settings),
                self.keys,
                self.bus,
                links=self._page_link,
                review_links=self._review_link,
            )
            await queue.consume(self.notifier.handle, concurrency=4)
            self.notifier.start()

    def _page_link(self, kind: str, ident: str) -> str | None:
        """The web page of a run or an agent, when the apps' address is known."""
        if not self.ui_url:
            return None
        if kind == "run":
            return f"{self.ui_url}/monitor/run?id={ident}"
        return f"{self.ui_url}/library?agent={ident}"

    def _review_link(self, review_id: str) -> str | None:
        """A signed page that answers a review, when the API's address is known."""
        if not self.api_url:
            return None
        return self.reviews.signed_link(review_id, self.api_url)

    async def _start_files(self) -> None:
        """The file store, registered for blocks as the ``files`` service (before any run resumes)."""
        self.files = FileService.from_settings(
            self.settings, self.db.pool if self.db is not None else None, self.scanner
        )
        await self.files.start()
        self.block_services.named["files"] = self.files

    async def _take_lease(self) -> int:
        """Hold this process's executor lock for its lifetime (its runs are ours while it is held)."""
        assert self.db is not None and self.db.url is not None
        self._lease = await asyncpg.connect(self.db.url)
        while True:
            key = random.randint(1, 2**31 - 1)
            if await self._lease.fetchval("SELECT pg_try_advisory_lock($1, $2)", EXECUTOR_LOCK_CLASS, key):
                return key

    async def stop(self, timeout: float | None = None) -> None:
        """Finish or hand back runs, flush, close connections, within ``timeout`` seconds
        (``WORKBENCH_STOP_TIMEOUT`` by default) whatever runs are doing.

        Runs get most of the time to finish (:meth:`ExecutionService.shutdown`); the rest are handed
        back (stored ones stay RUNNING and resume on the next start or another executor). A step
        that overruns its share is left unfinished, as a crash would leave it: storage stays the
        truth, and the embedded server is always left, so the last process using it stops it.
        """
        if not self.started:
            return
        self.started = False
        budget = self.settings.stop_timeout if timeout is None else timeout
        deadline = time.monotonic() + budget

        def left() -> float:
            return max(0.0, deadline - time.monotonic())

        if self.executions.sweeper is not None:
            await self.executions.sweeper.stop()
        await self.reviews.stop()
        runs = budget * RUNS_SHARE
        stopping_queue = None
        if self.queue is not None and not self.queue.in_process:
            # Stop taking work; its handlers return as their runs end or are handed back below.
            stopping_queue = asyncio.get_running_loop().create_task(self.queue.stop(grace=runs))
        await self.executions.shutdown(runs)
        if stopping_queue is not None:
            await _within(stopping_queue, left(), "stopping the queue consumer")
        if self.notify_queue is not None:
            await _within(
                self.notify_queue.stop(grace=min(1.0, left())), left(), "handing over notifier events"
            )
        if self.notifier is not None:
            await _within(self.notifier.stop(grace=min(1.0, left())), left(), "stopping the notifier")
        if self.accounts is not None:
            await _within(self.accounts.drain(sending=False), left(), "preparing the account mails")
        if self.writer is not None:
            await _within(self.writer.stop(), left(), "writing the last node results")
        if self.accounts is not None:  # after the results: a mail server that is down must not cost them
            await _within(self.accounts.mailer.drain(), left(), "sending the account mails")
        if self._lease is not None:
            lease, self._lease = self._lease, None
            await _within(lease.close(timeout=max(left(), 0.1)), left(), "closing the executor lease")
        if self.files is not None:
            await _within(self.files.stop(), left(), "closing the file store")
        await _within(self.scanner.stop(), left(), "closing the virus scanner")
        if self.db is not None:
            await self.db.stop(timeout=left())
        await _within(self.shared.stop(), left(), "leaving the shared state")
        await _within(self.bus.stop(), max(left(), 0.5), "disconnecting the event bus")
        tracing.force_flush(int(max(left(), 0.1) * 1000))

    @property
    def agent_tools(self) -> AgentToolService:
        """The user's agents as tools (MCP): which, under which names, and calling them."""
        return AgentToolService(self.graphs, self.executions)

    def _presence_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"running": self.executions.running_count()}
        for extra in self.presence_extras:
            doc.update(extra())
        return doc

    async def __aenter__(self) -> Workbench:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
