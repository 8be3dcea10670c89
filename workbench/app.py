"""The Workbench: one object wiring settings, storage, blocks, the bus and the services.

Every front door (CLI, notebook client, server) opens one::

    async with Workbench() as wb:                  # embedded PostgreSQL under WORKBENCH_HOME
        result = await wb.executions.run(graph, {"name": "Ada"})

    async with Workbench(ephemeral=True) as wb:    # nothing stored, no database started
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from types import TracebackType
from typing import Any

import asyncpg

from workbench import sandbox
from workbench.block.registry import BlockRegistry, default_registry
from workbench.config import Settings
from workbench.engine.context import BlockServices
from workbench.knowledge.embedders import EmbedderFactory
from workbench.knowledge.service import KnowledgeService
from workbench.knowledge.store import KnowledgeRepository
from workbench.net.policy import HttpPolicy
from workbench.runtime.bus import EventBus, LocalBus
from workbench.runtime.queue import ExecutionQueue
from workbench.runtime.shared_state import SharedState
from workbench.secrets import Keys
from workbench.services.accounts import AccountService
from workbench.services.credentials import CredentialVault
from workbench.services.executions import EXECUTOR_LOCK_CLASS, ExecutionService
from workbench.services.graphs import GraphService
from workbench.store.accounts import AccountRepository
from workbench.store.blocks import sync_catalogue
from workbench.store.database import Database
from workbench.store.executions import ExecutionRepository
from workbench.store.graphs import GraphRepository
from workbench.store.writer import WriteBehind

log = logging.getLogger(__name__)
SWEEP_INTERVAL = 10.0


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
    ) -> None:
        self.settings = settings or Settings.from_env()
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
        self.keys: Keys | None = None
        self.accounts: AccountService | None = None
        self.credentials: CredentialVault | None = None
        self.knowledge: KnowledgeService | None = None
        """Knowledge bases (durable workbenches only)."""
        self.consume = consume
        """Take executions from the queue (an executor process). With no AMQP_URL, runs are
        always dispatched in the process that submits them."""
        self.queue: ExecutionQueue | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.started = False

    async def start(self) -> Workbench:
        """Connect to storage (starting the embedded server if needed), migrate, resume runs."""
        if self.started:
            return self
        sandbox.configure(self.settings)  # limits of the process's sandbox pool (started on first use)
        await self.bus.start()
        await self.shared.start()
        if self.db is not None:
            await self.db.start()
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
            self.accounts = AccountService(AccountRepository(pool), self.keys)
            self.credentials = CredentialVault(pool, self.keys)
            self.block_services.vault = self.credentials
            self.block_services.pool = pool
            self.knowledge = KnowledgeService(
                KnowledgeRepository(pool),
                EmbedderFactory(self.credentials, policy=HttpPolicy.from_settings(self.settings)),
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
            await sync_catalogue(pool, self.registry)
            if self.queue is not None:
                if self.consume:
                    await self.queue.consume(
                        self.executions.handle, concurrency=self.settings.executor_concurrency
                    )
                    self._sweeper = asyncio.get_running_loop().create_task(
                        self._sweep(), name="workbench-sweeper"
                    )
            elif self.resume:
                await self.executions.resume_interrupted()
        self.started = True
        return self

    async def _sweep(self) -> None:
        """Publish again what was not published, or whose executor died (a safety net for lost messages)."""
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            try:
                count = await self.executions.republish_stuck()
                if count:
                    log.info("republished %d stuck executions", count)
            except Exception:
                log.exception("sweeping stuck executions failed")

    async def _take_lease(self) -> int:
        """Hold this process's executor lock for its lifetime (its runs are ours while it is held)."""
        assert self.db is not None and self.db.url is not None
        self._lease = await asyncpg.connect(self.db.url)
        while True:
            key = random.randint(1, 2**31 - 1)
            if await self._lease.fetchval("SELECT pg_try_advisory_lock($1, $2)", EXECUTOR_LOCK_CLASS, key):
                return key

    async def stop(self) -> None:
        """Finish or hand back runs, flush, close connections."""
        if not self.started:
            return
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(BaseException):
                await self._sweeper
        if self.queue is not None:
            await self.queue.stop()  # stop taking work; running handlers finish or hand back
        await self.executions.shutdown()
        if self.accounts is not None:
            await self.accounts.drain()  # mails being prepared need the pool
        if self.writer is not None:
            await self.writer.stop()
        if self._lease is not None:
            await self._lease.close()
            self._lease = None
        if self.db is not None:
            await self.db.stop()
        await self.shared.stop()
        await self.bus.stop()
        self.started = False

    def _presence_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"running": len(self.executions._runs)}
        for extra in self.presence_extras:
            doc.update(extra())
        return doc

    async def __aenter__(self) -> Workbench:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
