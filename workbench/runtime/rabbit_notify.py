"""The notifier's event queue on RabbitMQ (aio-pika).

Topology (declared by every side, idempotently): exchange ``agent.notifications`` (direct) →
queue ``notifications`` (durable; rejected messages dead-letter through ``agent.notifications.dlx``
to ``notifications.dlq``). A handler failure republishes the event to ``notifications.retry``
with a per-message TTL (the backoff); when it expires RabbitMQ dead-letters it back to
``notifications``. After ``MAX_ATTEMPTS`` deliveries the message is rejected into the DLQ.
Messages are persistent and published with confirms; a consumer acknowledges only after its handler
returned (the notification and its deliveries are stored), so a notifier killed mid-event leaves the
message to another. A redelivered message is harmless: one notification per user and dedupe key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel, AbstractRobustConnection

from workbench import jsonutil
from workbench.errors import ConfigError, StoreUnavailable
from workbench.runtime.notify_queue import MAX_ATTEMPTS, Handler, NotifyEvent, NotifyQueue, retry_delay

log = logging.getLogger(__name__)
EXCHANGE = "agent.notifications"
QUEUE = "notifications"
RETRY_QUEUE = "notifications.retry"
DLX = "agent.notifications.dlx"
DLQ = "notifications.dlq"
ATTEMPT_HEADER = "x-workbench-attempt"


class RabbitNotifyQueue(NotifyQueue):
    """Notifier events through RabbitMQ."""

    kind = "rabbitmq"

    def __init__(
        self, url: str, *, max_attempts: int = MAX_ATTEMPTS, delay: Callable[[int], float] = retry_delay
    ) -> None:
        """``max_attempts`` and ``delay`` (seconds before the n-th delivery) shape the retries."""
        super().__init__()
        self.max_attempts = max_attempts
        self.delay = delay
        if not url.startswith(("amqp://", "amqps://")):
            raise ConfigError("AMQP_URL must be an amqp:// URL")
        self.url = url
        self._conn: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self._consumer: AbstractRobustChannel | None = None
        self._consumer_tag: tuple[aio_pika.abc.AbstractRobustQueue, str] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._slots: asyncio.Semaphore | None = None

    async def start(self) -> None:
        try:
            self._conn = await aio_pika.connect_robust(self.url, timeout=10)
        except Exception as exc:
            raise StoreUnavailable(f"cannot connect to RabbitMQ at AMQP_URL: {exc}") from exc
        self._channel = await self._conn.channel(publisher_confirms=True)
        await self.declare(self._channel)
        self._exchange = await self._channel.get_exchange(EXCHANGE)
        await super().start()

    @staticmethod
    async def declare(channel: AbstractRobustChannel) -> None:
        """Declare the exchanges and queues (idempotent)."""
        exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True)
        dlx = await channel.declare_exchange(DLX, aio_pika.ExchangeType.FANOUT, durable=True)
        dlq = await channel.declare_queue(DLQ, durable=True)
        await dlq.bind(dlx)
        main = await channel.declare_queue(QUEUE, durable=True, arguments={"x-dead-letter-exchange": DLX})
        await main.bind(exchange, routing_key=QUEUE)
        await channel.declare_queue(
            RETRY_QUEUE,
            durable=True,
            arguments={"x-dead-letter-exchange": EXCHANGE, "x-dead-letter-routing-key": QUEUE},
        )

    def _message(self, event: NotifyEvent, attempt: int, expiration: float | None = None) -> aio_pika.Message:
        return aio_pika.Message(
            jsonutil.dumpb(event.to_dict()),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=event.key,
            headers={ATTEMPT_HEADER: attempt},
            expiration=expiration,
        )

    async def _send(self, event: NotifyEvent) -> None:
        if self._exchange is None:
            raise RuntimeError("RabbitNotifyQueue.start() has not been called")
        await self._exchange.publish(self._message(event, 1), routing_key=QUEUE, mandatory=True, timeout=10)

    async def consume(self, handler: Handler, *, concurrency: int) -> None:
        assert self._conn is not None
        self._slots = asyncio.Semaphore(concurrency)
        self._consumer = await self._conn.channel()
        await self._consumer.set_qos(prefetch_count=concurrency)
        queue = await self._consumer.declare_queue(
            QUEUE, durable=True, arguments={"x-dead-letter-exchange": DLX}
        )

        async def on_message(message: AbstractIncomingMessage) -> None:
            task = asyncio.get_running_loop().create_task(self._handle(handler, message))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

        self._consumer_tag = (queue, await queue.consume(on_message))

    async def _handle(self, handler: Handler, message: AbstractIncomingMessage) -> None:
        assert self._slots is not None
        attempt = int((message.headers or {}).get(ATTEMPT_HEADER, 1) or 1)
        try:
            event = NotifyEvent.from_dict(jsonutil.loads(message.body), attempt)
        except Exception:
            log.error("notifier: malformed message on %s: %r", QUEUE, message.body[:200])
            await message.reject(requeue=False)
            self.dead_lettered += 1
            return
        try:
            async with self._slots:
                await handler(event)
        except asyncio.CancelledError:
            await asyncio.shield(message.nack(requeue=True))  # stopping: another notifier takes it
            raise
        except Exception:
            await self._retry(event, message)
            return
        await message.ack()
        self.handled += 1

    async def _retry(self, event: NotifyEvent, message: AbstractIncomingMessage) -> None:
        if event.attempt >= self.max_attempts:
            log.error(
                "notifier: event %s dead-lettered after %d attempts", event.key, event.attempt, exc_info=True
            )
            await message.reject(requeue=False)
            self.dead_lettered += 1
            return
        log.warning("notifier: handling event %s failed; retrying", event.key, exc_info=True)
        try:
            assert self._channel is not None
            delay = self.delay(event.attempt + 1)
            await self._channel.default_exchange.publish(
                self._message(event, event.attempt + 1, expiration=delay), routing_key=RETRY_QUEUE, timeout=10
            )
        except Exception:
            log.warning("notifier: scheduling the retry of %s failed; requeued", event.key, exc_info=True)
            await message.nack(requeue=True)
            return
        await message.ack()
        self.retried += 1

    async def stop(self, grace: float = 2.0) -> None:
        await super().stop(grace)
        if self._consumer_tag is not None:
            queue, tag = self._consumer_tag
            self._consumer_tag = None
            with contextlib.suppress(Exception):
                await queue.cancel(tag)
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._consumer.close()
            self._consumer = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def health(self) -> dict[str, Any]:
        doc = await super().health()
        ok = self._conn is not None and not self._conn.is_closed
        depth: dict[str, int] = {}
        if ok and self._conn is not None:
            try:  # a channel of its own: a robust channel answers a repeated declare from its cache
                async with self._conn.channel() as channel:
                    for name in (QUEUE, RETRY_QUEUE, DLQ):
                        q = await channel.declare_queue(name, passive=True)
                        depth[name] = q.declaration_result.message_count or 0
            except Exception:
                ok = False
        return {**doc, "ok": ok, "depth": depth}
