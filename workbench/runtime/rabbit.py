"""RabbitMQ execution queue (aio-pika), with the seed's topology.

Exchanges: ``agent.execution`` (topic; routing keys ``execution.<priority>``), ``agent.events``
(fanout), ``agent.schedules`` (direct), and ``agent.execution.dlx`` for dead letters. Queues:
``execution.high`` / ``.normal`` / ``.low`` (durable, message TTL 1 h / 24 h / 7 d, dead-lettering
to ``execution.dlq``). Messages are persistent and published with confirms; a consumer gets at most
``concurrency`` unacked messages and acks a message only after its handler returned, i.e. after the
execution's final state is stored. If a consumer dies, RabbitMQ hands its unacked messages to another.

Priorities are weighted, not strict: each priority has its own channel and prefetch (high and
normal ``concurrency``, low half of it) and all share ``concurrency`` running slots.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel, AbstractRobustConnection

from workbench import jsonutil
from workbench.errors import ConfigError, StoreUnavailable
from workbench.runtime.queue import PRIORITIES, DeadLetter, ExecutionQueue, Handler, Job
from workbench.telemetry import metrics

log = logging.getLogger(__name__)
EXECUTION_EXCHANGE = "agent.execution"
EVENTS_EXCHANGE = "agent.events"
SCHEDULES_EXCHANGE = "agent.schedules"
DLX = "agent.execution.dlx"
DLQ = "execution.dlq"
TTL_MS = {"high": 3_600_000, "normal": 86_400_000, "low": 604_800_000}


def queue_name(priority: str) -> str:
    """``execution.<priority>``."""
    return f"execution.{priority}"


class RabbitQueue(ExecutionQueue):
    """Executions through RabbitMQ."""

    kind = "rabbitmq"

    def __init__(self, url: str) -> None:
        if not url.startswith(("amqp://", "amqps://")):
            raise ConfigError("AMQP_URL must be an amqp:// URL")
        self.url = url
        self._conn: AbstractRobustConnection | None = None
        self._publish_channel: AbstractRobustChannel | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self._consumer_channels: list[AbstractRobustChannel] = []
        self._slots: asyncio.Semaphore | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._consumers: list[tuple[aio_pika.abc.AbstractRobustQueue, str]] = []
        self._stopping = False
        self.delivered = 0
        self.acked = 0
        self.dead_lettered = 0

    async def start(self) -> None:
        try:
            self._conn = await aio_pika.connect_robust(self.url, timeout=10)
        except Exception as exc:
            raise StoreUnavailable(f"cannot connect to RabbitMQ at AMQP_URL: {exc}") from exc
        channel = await self._conn.channel(publisher_confirms=True)
        await self.declare(channel)
        self._publish_channel = channel
        self._exchange = await channel.get_exchange(EXECUTION_EXCHANGE)

    @staticmethod
    async def declare(channel: AbstractRobustChannel) -> None:
        """Declare the exchanges and queues (idempotent)."""
        execution = await channel.declare_exchange(
            EXECUTION_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        await channel.declare_exchange(EVENTS_EXCHANGE, aio_pika.ExchangeType.FANOUT, durable=True)
        await channel.declare_exchange(SCHEDULES_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True)
        dlx = await channel.declare_exchange(DLX, aio_pika.ExchangeType.FANOUT, durable=True)
        dlq = await channel.declare_queue(DLQ, durable=True)
        await dlq.bind(dlx)
        for priority in PRIORITIES:
            queue = await channel.declare_queue(
                queue_name(priority),
                durable=True,
                arguments={"x-message-ttl": TTL_MS[priority], "x-dead-letter-exchange": DLX},
            )
            await queue.bind(execution, routing_key=queue_name(priority))

    async def publish(self, execution_id: str, priority: str = "normal") -> None:
        if priority not in PRIORITIES:
            raise ValueError(f"priority must be one of {PRIORITIES}")
        if self._exchange is None:
            raise RuntimeError("RabbitQueue.start() has not been called")
        message = aio_pika.Message(
            jsonutil.dumpb({"execution_id": execution_id, "priority": priority}),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=execution_id,
        )
        await self._exchange.publish(message, routing_key=queue_name(priority), mandatory=True, timeout=10)

    async def consume(self, handler: Handler, *, concurrency: int) -> None:
        assert self._conn is not None
        self._slots = asyncio.Semaphore(concurrency)
        for priority in PRIORITIES:
            channel = await self._conn.channel()
            await channel.set_qos(
                prefetch_count=concurrency if priority != "low" else max(1, concurrency // 2)
            )
            queue = await channel.declare_queue(
                queue_name(priority),
                durable=True,
                arguments={"x-message-ttl": TTL_MS[priority], "x-dead-letter-exchange": DLX},
            )
            tag = await queue.consume(self._on_message(handler, priority))
            self._consumers.append((queue, tag))
            self._consumer_channels.append(channel)

    def _on_message(self, handler: Handler, priority: str) -> Any:
        async def on_message(message: AbstractIncomingMessage) -> None:
            # Hand off at once so the channel keeps delivering; the slot bounds what runs.
            task = asyncio.get_running_loop().create_task(self._handle(handler, priority, message))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

        return on_message

    async def _handle(self, handler: Handler, priority: str, message: AbstractIncomingMessage) -> None:
        assert self._slots is not None
        self.delivered += 1
        try:
            body = jsonutil.loads(message.body)
            job = Job(
                str(body["execution_id"]), str(body.get("priority", priority)), bool(message.redelivered)
            )
        except Exception:
            log.error("malformed message on %s: %r", queue_name(priority), message.body[:200])
            await message.reject(requeue=False)
            self.dead_lettered += 1
            return
        try:
            async with self._slots:
                if self._stopping:
                    await message.nack(requeue=True)  # prefetched but not started: hand it back
                    return
                started = time.perf_counter()
                try:
                    await handler(job)
                finally:
                    metrics.queue_processed(queue_name(priority), time.perf_counter() - started)
        except DeadLetter as exc:
            log.error("execution %s dead-lettered: %s", job.execution_id, exc)
            await message.reject(requeue=False)
            self.dead_lettered += 1
            return
        except asyncio.CancelledError:
            # Shutting down: hand the message back for another executor.
            await asyncio.shield(message.nack(requeue=True))
            raise
        except Exception:
            log.exception("handling execution %s failed; requeued", job.execution_id)
            await message.nack(requeue=True)
            return
        await message.ack()
        self.acked += 1

    async def stop(self, grace: float = 10.0) -> None:
        """Stop taking work, let running handlers finish for ``grace`` seconds, hand back the rest."""
        self._stopping = True
        for queue, tag in self._consumers:
            try:
                await queue.cancel(tag)
            except Exception:  # the channel may be gone already
                log.debug("cancelling consumer %s failed", tag, exc_info=True)
        self._consumers.clear()
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=grace)
            for task in pending:
                task.cancel()  # their handlers hand the run back; the message is nacked
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        for channel in self._consumer_channels:
            await channel.close()
        self._consumer_channels.clear()
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def health(self) -> dict[str, Any]:
        ok = self._conn is not None and not self._conn.is_closed
        depth: dict[str, int] = {}
        if ok and self._conn is not None:
            try:  # a channel of its own: a robust channel answers a repeated declare from its cache
                async with self._conn.channel() as channel:
                    for priority in (*PRIORITIES,):
                        q = await channel.declare_queue(queue_name(priority), passive=True)
                        depth[priority] = q.declaration_result.message_count or 0
            except Exception:
                ok = False
        return {
            "ok": ok,
            "kind": self.kind,
            "depth": depth,
            "delivered": self.delivered,
            "acked": self.acked,
            "dead_lettered": self.dead_lettered,
        }
