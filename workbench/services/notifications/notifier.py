"""The notifier: turns events into notifications and delivers them (the seed's Notification Server).

Three loops, in any number of processes at once (``workbench notifier`` processes, or inside
``workbench up``/``serve`` without ``AMQP_URL``):

1. **Events** from the notifier queue (:mod:`workbench.runtime.notify_queue`): a run ended or waits
   for a review, a schedule fire was missed or could not start, a block sent a message. For each, the
   user's preferences (:mod:`.preferences`) say which channels; the notification is stored once per
   user and dedupe key, with one delivery row per outside destination, in one transaction (the
   daily cap is counted in it), and pushed to the user's apps on the event bus when it goes in the
   inbox. A redelivered event finds its notification stored and does nothing.
2. **Deliveries**: rows due now are claimed with ``FOR UPDATE SKIP LOCKED`` and a lease, sent through
   :mod:`workbench.notify` (email, signed webhooks, Slack, Discord; HTTP through the outbound guard,
   each send retrying quickly a few times), and settled: delivered, failed (permanent, or after
   ``MAX_ATTEMPTS`` sends), or pending again later with backoff (``Retry-After`` honoured). Quiet
   hours store a delivery pending until they end. A sender killed mid-send leaves a lease that runs
   out; the row is then sent again with the same delivery id, which webhook receivers use to drop
   the repeat.
3. **Sweeps**: runs that ended and fires that were missed without their event arriving (a process
   killed in between) are handled from the database after ``SWEEP_AFTER`` seconds; daily and weekly
   summaries are made once each period ends in the user's timezone.

Sending never happens on an execution's path: a slow or dead mail server or webhook only slows
these loops, which hold at most ``concurrency`` sends at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from workbench.errors import ConfigError
from workbench.notify import message as messages
from workbench.notify.channel import Target
from workbench.notify.message import AgentSummary, Notification
from workbench.notify.senders import SenderRegistry
from workbench.runtime.bus import EventBus
from workbench.runtime.events import EventType, ExecutionEvent
from workbench.runtime.notify_queue import NotifyEvent
from workbench.secrets import Keys
from workbench.services.notifications.preferences import OUTSIDE, Preferences
from workbench.services.notifications.service import channel_cipher
from workbench.store.notifications import (
    ChannelRecord,
    ClaimedDelivery,
    NotificationRepository,
    PlannedDelivery,
)
from workbench.telemetry import metrics

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 6
"""Sends of one delivery (each with its own quick retries) before it is given up."""
LEASE = 300.0
"""Seconds a notifier holds a delivery it is sending."""
PER_TARGET = 2
"""Sends in flight to one channel at most (per notifier): a dead webhook holds two senders, not all."""
POLL = 2.0
CLAIM_GAP = 0.02
"""Seconds between two looks for due deliveries, at least: a burst of new notifications is one query."""
"""Seconds between looks for due deliveries when nothing wakes the loop sooner."""
SWEEP_EVERY = 30.0
SWEEP_AFTER = 30.0
"""Seconds after a run's end before the sweep handles it in place of its lost event."""
SWEEP_HORIZON = 3600.0
"""Runs that ended longer ago than this without being handled are marked handled, not notified."""
SUMMARY_EVERY = 600.0
FAILING_STREAK = 3
"""A schedule whose runs failed this many times in a row is reported as failing (once per streak)."""
PREFS_TTL = 5.0
LOCAL_ADDRESS = "local@localhost"
"""The no-login user's placeholder address: not a mailbox."""


def retry_after(attempts: int) -> float:
    """Seconds before the next send of a delivery that failed ``attempts`` times: 30 s, 2, 8, 30 min…"""
    return float(min(6 * 3600, 30 * 4 ** (attempts - 1)))


@dataclass(slots=True)
class _UserPrefs:
    prefs: Preferences
    timezone: str | None
    email: str | None
    at: float
    channels: list[ChannelRecord] | None = None
    """The user's enabled channels, read when first needed."""


class Notifier:
    """Handles notifier events and sends deliveries (module documentation)."""

    def __init__(
        self,
        repo: NotificationRepository,
        senders: SenderRegistry,
        keys: Keys,
        bus: EventBus,
        *,
        links: Callable[[str, str], str | None] | None = None,
        review_links: Callable[[str], str | None] | None = None,
        concurrency: int = 16,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.repo = repo
        self.senders = senders
        self.cipher = channel_cipher(keys)
        self.bus = bus
        self.links = links
        """``links(kind, id)``: the web page of a run (``"run"``) or an agent (``"agent"``), or None."""
        self.review_links = review_links
        """``review_links(review_id)``: a signed page answering a review, or None."""
        self.concurrency = concurrency
        self.clock = clock
        self._prefs: dict[str, _UserPrefs] = {}
        self._wake = asyncio.Event()
        self._sends: set[asyncio.Task[None]] = set()
        self._busy: dict[str, int] = {}
        """Sends in flight per channel id: a channel at ``PER_TARGET`` gets no more until one ends."""
        self._tasks: list[asyncio.Task[None]] = []
        self._handled_runs: list[str] = []
        self._stopping = False
        self.counters: dict[str, int] = {
            "events": 0,
            "notifications": 0,
            "duplicates": 0,
            "delivered": 0,
            "failed": 0,
            "retried": 0,
            "suppressed": 0,
            "swept": 0,
        }
        self.latency: list[float] = []
        """Seconds from a notification's making to its delivery, the latest 1,000."""

    # ---- running ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the delivery, sweep and summary loops."""
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._deliver_loop(), name="notifier-deliveries"),
            loop.create_task(self._every(SWEEP_EVERY, self.sweep), name="notifier-sweep"),
            loop.create_task(self._every(SUMMARY_EVERY, self.summaries), name="notifier-summaries"),
            loop.create_task(self._flush_loop(), name="notifier-marks"),
        ]

    async def stop(self, grace: float = 2.0) -> None:
        """Stop the loops; sends in flight get ``grace`` seconds, then their leases run out."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks = []
        if self._sends:
            _, pending = await asyncio.wait(set(self._sends), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._flush_marks()
        await self.senders.aclose()

    def wake(self) -> None:
        """Look for due deliveries now."""
        self._wake.set()

    async def _every(self, seconds: float, job: Callable[[], Any]) -> None:
        await asyncio.sleep(min(seconds, 5.0))
        while True:
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("notifier: %s failed", getattr(job, "__name__", "a periodic job"))
            await asyncio.sleep(seconds)

    # ---- events -----------------------------------------------------------------------------------

    async def handle(self, event: NotifyEvent) -> None:
        """Handle one event (the queue's handler); raises to have it delivered again later."""
        self.counters["events"] += 1
        if event.kind == "run_ended":
            await self._run_ended(event.user_id, event.data)
        elif event.kind == "run_waiting":
            await self._run_waiting(event.user_id, event.data)
        elif event.kind == "schedule_fire":
            await self._schedule_fire(str(event.data.get("schedule_run_id", "")))
        elif event.kind == "message":
            await self._message(event)
        else:
            log.warning("notifier: unknown event kind %r dropped", event.kind)

    async def preferences(self, user_id: str) -> _UserPrefs:
        """The user's preferences, timezone and address (cached for a few seconds)."""
        cached = self._prefs.get(user_id)
        now = time.monotonic()
        if cached is not None and now - cached.at < PREFS_TTL:
            return cached
        doc, timezone, email = await self.repo.preferences(user_id)
        try:
            prefs = Preferences.parse(doc or {})
        except Exception:
            log.warning("notifier: stored preferences of %s do not parse; using the defaults", user_id)
            prefs = Preferences()
        found = _UserPrefs(prefs, timezone, email, now)
        if len(self._prefs) > 10_000:
            self._prefs.clear()
        self._prefs[user_id] = found
        return found

    def forget(self, user_id: str) -> None:
        """Drop the cached preferences and channels of a user (they changed them here; other
        notifiers see a change within ``PREFS_TTL`` seconds)."""
        self._prefs.pop(user_id, None)

    def _link(self, kind: str, ident: str) -> str | None:
        if self.links is None:
            return None
        try:
            return self.links(kind, ident)
        except Exception:
            return None

    async def _run_ended(self, user_id: str, data: dict[str, Any]) -> None:
        execution_id = str(data["execution_id"])
        try:
            status = data.get("status")
            if status not in ("COMPLETED", "FAILED"):
                return
            event = "run_completed" if status == "COMPLETED" else "run_failed"
            graph_id = data.get("graph_id")
            user = await self.preferences(user_id)
            wanted = user.prefs.channels_for(event, graph_id)
            schedule_check = status == "FAILED"
            if not wanted and not schedule_check:
                return
            facts = data if "agent_name" in data else (await self.repo.run_facts(execution_id) or {})
            if not facts or facts.get("is_child"):
                return
            run_url = self._link("run", execution_id)
            if wanted:
                if status == "COMPLETED":
                    note = messages.run_completed(
                        agent_name=str(facts.get("agent_name") or graph_id),
                        run_id=execution_id,
                        run_url=run_url,
                        duration=facts.get("duration"),
                        tokens=int(facts["tokens"]) if facts.get("tokens") else None,
                        cost=facts.get("cost") or None,
                    )
                else:
                    note = messages.run_failed(
                        agent_name=str(facts.get("agent_name") or graph_id),
                        run_id=execution_id,
                        node=str(facts.get("node_name") or facts.get("error_node_id") or "(the run)"),
                        error=str(facts.get("error") or "failed"),
                        run_url=run_url,
                    )
                await self.deliver(
                    user_id, note, event, channels=wanted, graph_id=graph_id, execution_id=execution_id
                )
            if schedule_check:
                await self._schedule_streak(user_id, execution_id, graph_id, facts)
        finally:
            self._handled_runs.append(execution_id)

    async def _schedule_streak(
        self, user_id: str, execution_id: str, graph_id: str | None, facts: dict[str, Any]
    ) -> None:
        schedule_id = await self.repo.schedule_of(execution_id)
        if not schedule_id:
            return
        streak, since, error = await self.repo.failure_streak(schedule_id, execution_id, facts.get("error"))
        if streak < FAILING_STREAK or since is None:
            return
        user = await self.preferences(user_id)
        wanted = user.prefs.channels_for("schedule_failing", graph_id)
        if not wanted:
            return
        note = messages.schedule_failing(
            agent_name=str(facts.get("agent_name") or graph_id),
            schedule_id=schedule_id,
            failures=streak,
            error=error or "failed",
            url=self._link("agent", str(graph_id)),
            since=since.isoformat(),
        )
        await self.deliver(user_id, note, "schedule_failing", channels=wanted, graph_id=graph_id)

    async def _run_waiting(self, user_id: str, data: dict[str, Any]) -> None:
        execution_id = str(data["execution_id"])
        graph_id = data.get("graph_id")
        user = await self.preferences(user_id)
        wanted = user.prefs.channels_for("review_requested", graph_id)
        if not wanted:
            return
        for review in await self.repo.waiting_reviews(execution_id):
            note = messages.review_requested(
                agent_name=str(data.get("agent_name") or review.get("agent_name") or graph_id),
                run_id=execution_id,
                review_id=review["id"],
                name=str(review.get("name") or "a review"),
                link=self.review_links(review["id"]) if self.review_links else None,
            )
            await self.deliver(
                user_id,
                note,
                "review_requested",
                channels=wanted,
                graph_id=graph_id,
                execution_id=execution_id,
            )

    async def _schedule_fire(self, schedule_run_id: str) -> None:
        fire = await self.repo.schedule_fire(schedule_run_id) if schedule_run_id else None
        try:
            if fire is None or fire["status"] not in ("MISSED", "FAILED"):
                return
            user_id, graph_id = fire["user_id"], fire["graph_id"]
            if fire["status"] == "MISSED":
                user = await self.preferences(user_id)
                wanted = user.prefs.channels_for("schedule_missed", graph_id)
                if wanted:
                    note = messages.schedule_missed(
                        agent_name=str(fire["agent_name"] or graph_id),
                        schedule_id=fire["schedule_id"],
                        missed_at=fire["fire_time"],
                        reason=fire["error"],
                    )
                    await self.deliver(user_id, note, "schedule_missed", channels=wanted, graph_id=graph_id)
            else:
                streak, since, error = await self.repo.failure_streak(fire["schedule_id"])
                user = await self.preferences(user_id)
                wanted = user.prefs.channels_for("schedule_failing", graph_id)
                if streak >= FAILING_STREAK and since is not None and wanted:
                    note = messages.schedule_failing(
                        agent_name=str(fire["agent_name"] or graph_id),
                        schedule_id=fire["schedule_id"],
                        failures=streak,
                        error=error or fire["error"] or "failed",
                        url=self._link("agent", graph_id),
                        since=since.isoformat(),
                    )
                    await self.deliver(user_id, note, "schedule_failing", channels=wanted, graph_id=graph_id)
        finally:
            if schedule_run_id:
                await self.repo.mark_fires_notified([schedule_run_id])

    async def _message(self, event: NotifyEvent) -> None:
        data = event.data
        note = messages.custom(
            title=str(data.get("title") or "Message"),
            text=str(data.get("text") or ""),
            data={k: data.get(k) for k in ("graph_id", "execution_id") if data.get(k)},
            dedupe_key=event.key,
        )
        channel = data.get("channel")
        graph_id = data.get("graph_id")
        if channel:
            await self.deliver(
                event.user_id,
                note,
                "custom",
                channels=[str(channel)],
                graph_id=graph_id,
                execution_id=data.get("execution_id"),
                by_name=True,
            )
        else:
            user = await self.preferences(event.user_id)
            wanted = user.prefs.channels_for("custom", graph_id)
            await self.deliver(
                event.user_id,
                note,
                "custom",
                channels=wanted or ["in_app"],
                graph_id=graph_id,
                execution_id=data.get("execution_id"),
            )

    # ---- making a notification ----------------------------------------------------------------------

    async def deliver(
        self,
        user_id: str,
        note: Notification,
        event: str,
        *,
        channels: list[str],
        graph_id: str | None = None,
        execution_id: str | None = None,
        by_name: bool = False,
    ) -> bool:
        """Store ``note`` for the user with a delivery per destination of ``channels`` (kinds, or
        with ``by_name`` also channel names); False when it was stored before (a duplicate)."""
        user = await self.preferences(user_id)
        now = self.clock()
        in_app = "in_app" in channels
        planned: list[PlannedDelivery] = []
        kinds = [c for c in channels if c in OUTSIDE]
        names = [c for c in channels if c not in OUTSIDE and c != "in_app"] if by_name else []
        if kinds or names:
            quiet = user.prefs.quiet_until(now, user.timezone)
            held = f"held by quiet hours until {quiet.isoformat(timespec='minutes')}" if quiet else None
            if user.channels is None:
                user.channels = await self.repo.enabled_channels(user_id)
            mine = user.channels
            for kind in kinds:
                targets = [rec for rec in mine if rec.kind == kind]
                if targets:
                    planned += [
                        PlannedDelivery(kind, rec.id, rec.display, reason=held, next_attempt_at=quiet)
                        for rec in targets
                    ]
                elif kind == "email" and user.email and user.email != LOCAL_ADDRESS:
                    planned.append(
                        PlannedDelivery("email", None, user.email, reason=held, next_attempt_at=quiet)
                    )
                else:
                    planned.append(
                        PlannedDelivery(
                            kind,
                            None,
                            "(none)",
                            "suppressed",
                            f"no {kind} channel is set up: add one under Profile → Notifications",
                        )
                    )
            for name in names:
                match = [rec for rec in mine if rec.name == name]
                if match:
                    rec = match[0]
                    planned.append(
                        PlannedDelivery(rec.kind, rec.id, rec.display, reason=held, next_attempt_at=quiet)
                    )
                else:
                    planned.append(
                        PlannedDelivery(
                            "unknown", None, name, "suppressed", f"no enabled channel is named {name!r}"
                        )
                    )
                    in_app = True  # the user hears about it somewhere
        if not in_app and not planned:
            return False
        created = await self.repo.create(
            user_id,
            kind=note.kind.value,
            dedupe_key=note.dedupe_key,
            title=note.title,
            text=note.text,
            html=note.html,
            data=dict(note.data),
            graph_id=graph_id,
            execution_id=execution_id,
            in_app=in_app,
            deliveries=planned,
            cap=user.prefs.daily_cap,
            day_start=user.prefs.day_start(now, user.timezone),
        )
        if created is None:
            self.counters["duplicates"] += 1
            return False
        record, rows = created
        self.counters["notifications"] += 1
        self.counters["suppressed"] += sum(1 for r in rows if r.status == "suppressed")
        if in_app:
            self.bus.publish(
                ExecutionEvent(EventType.NOTIFICATION, "", "", 0, user_id, "NEW", data=record.to_dict())
            )
        if any(r.status == "pending" for r in rows):
            self.wake()
        return True

    # ---- deliveries -------------------------------------------------------------------------------------

    async def _deliver_loop(self) -> None:
        slots = asyncio.Semaphore(self.concurrency)
        while True:
            self._wake.clear()
            free = self.concurrency - len(self._sends)
            looked = time.monotonic()
            claimed: list[ClaimedDelivery] = []
            if free > 0:
                try:
                    busy = [c for c, n in self._busy.items() if n >= PER_TARGET]
                    claimed = await self.repo.claim_due(free, LEASE, busy=busy, per_target=PER_TARGET)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("notifier: looking for due deliveries failed (%s)", exc)
            for item in claimed:
                task = asyncio.get_running_loop().create_task(self._send(item, slots))
                self._sends.add(task)
                task.add_done_callback(self._sends.discard)
                task.add_done_callback(lambda _: self._wake.set())
            if len(claimed) == free and free > 0:
                continue  # there may be more due
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL)
            since = time.monotonic() - looked
            if since < CLAIM_GAP:  # a burst of wakes makes one look, not one each
                await asyncio.sleep(CLAIM_GAP - since)

    async def _send(self, item: ClaimedDelivery, slots: asyncio.Semaphore) -> None:
        channel = item.delivery.channel_id
        if channel is not None:
            self._busy[channel] = self._busy.get(channel, 0) + 1
        try:
            async with slots:
                await self.send(item)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(
                "notifier: delivery %s failed unexpectedly; its lease will run out", item.delivery.id
            )
        finally:
            if channel is not None:
                left = self._busy.get(channel, 1) - 1
                if left > 0:
                    self._busy[channel] = left
                else:
                    self._busy.pop(channel, None)

    async def send(self, item: ClaimedDelivery) -> str:
        """Send one claimed delivery and record the outcome; returns the new status."""
        row, record = item.delivery, item.notification
        if row.channel_id is not None and item.address is None:
            await self.repo.settle(row.id, "failed", None, reason="the channel was removed or switched off")
            return self._outcome(row.channel, "failed")
        address = self.cipher.decrypt(item.address).decode() if item.address else row.target
        secret = self.cipher.decrypt(item.secret).decode() if item.secret else None
        note = Notification(
            record.kind,
            record.title,
            record.text,
            record.html,
            record.data,
            record.dedupe_key,
            record.created_at,
        )
        try:
            report = await self.senders.send(row.channel, Target(address, secret, delivery_id=row.id), note)
        except ConfigError as exc:  # e.g. email without WORKBENCH_SMTP_URL
            await self.repo.settle(row.id, "failed", None, reason=str(exc))
            return self._outcome(row.channel, "failed")
        doc = report.to_dict()
        if report.delivered:
            await self.repo.settle(row.id, "delivered", doc)
            self._outcome(row.channel, "delivered")
            self.latency.append((self.clock() - record.created_at).total_seconds())
            del self.latency[:-1000]
            return "delivered"
        if report.retryable and row.attempts < MAX_ATTEMPTS:
            wait = max(retry_after(row.attempts), float(report.retry_after or 0))
            await self.repo.settle(
                row.id,
                "pending",
                doc,
                reason=report.error,
                next_attempt_at=self.clock() + timedelta(seconds=wait),
            )
            self._outcome(row.channel, "retried")
            return "pending"
        await self.repo.settle(row.id, "failed", doc, reason=report.error)
        return self._outcome(row.channel, "failed")

    def _outcome(self, channel: str, outcome: str) -> str:
        """Count a send's outcome (``delivered``, ``retried``, ``failed``); returns the new status."""
        self.counters[outcome] += 1
        metrics.delivery_done(channel, outcome)
        return {"retried": "pending"}.get(outcome, outcome)

    # ---- sweeps and summaries ----------------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            with contextlib.suppress(Exception):
                await self._flush_marks()

    async def _flush_marks(self) -> None:
        if self._handled_runs:
            ids, self._handled_runs = self._handled_runs, []
            try:
                await self.repo.mark_runs_notified(ids)
            except Exception:
                self._handled_runs.extend(ids)
                raise

    async def sweep(self, after: float = SWEEP_AFTER) -> int:
        """Handle runs' ends and schedule fires whose events never arrived; returns how many."""
        count = 0
        for run in await self.repo.unnotified_runs(after, SWEEP_HORIZON, 200):
            await self._run_ended(
                run["user_id"],
                {"execution_id": run["id"], "status": run["status"], "graph_id": run["graph_id"]},
            )
            count += 1
        for fire_id in await self.repo.unnotified_fires(after, SWEEP_HORIZON, 200):
            await self._schedule_fire(fire_id)
            count += 1
        await self._flush_marks()
        self.counters["swept"] += count
        return count

    async def summaries(self) -> int:
        """Make the daily and weekly summaries whose period has ended; returns how many were made."""
        made = 0
        now = self.clock()
        for user_id, period, doc, timezone in await self.repo.summary_subscribers():
            try:
                prefs = Preferences.parse(doc)
            except Exception:
                continue
            zone = prefs.zone(timezone)
            local = now.astimezone(zone)
            end_local = datetime.combine(local.date(), datetime.min.time(), tzinfo=zone)
            if period == "weekly":
                end_local -= timedelta(days=local.weekday())  # the Monday that began this week
                start_local = end_local - timedelta(days=7)
            else:
                start_local = end_local - timedelta(days=1)
            start, end = start_local.astimezone(UTC), end_local.astimezone(UTC)
            key = f"summary:{period}:{user_id}:{start.isoformat()}"
            if await self.repo.has_notification(user_id, key):
                continue
            wanted = prefs.channels_for("summary")
            if not wanted:
                continue
            rows = await self.repo.period_totals(user_id, start, end)
            agents = [
                AgentSummary(name, runs, failures, int(tokens), cost)
                for name, runs, failures, tokens, cost in rows
            ]
            note = messages.summary(
                period=period,  # type: ignore[arg-type]
                start=start,
                end=end,
                runs=sum(a.runs for a in agents),
                failures=sum(a.failures for a in agents),
                tokens=sum(a.tokens for a in agents),
                cost=sum(a.cost for a in agents),
                agents=agents,
                recipient=user_id,
            )
            if await self.deliver(user_id, note, "summary", channels=wanted):
                made += 1
        return made

    # ---- reporting ------------------------------------------------------------------------------------------

    def metrics(self) -> dict[str, float]:
        """Prometheus samples of this notifier."""
        samples: dict[str, float] = {
            f"workbench_notifier_{name}_total": value for name, value in self.counters.items()
        }
        samples["workbench_notifier_sending"] = len(self._sends)
        if self.latency:
            ordered = sorted(self.latency)
            samples['workbench_notifier_delivery_seconds{quantile="0.5"}'] = ordered[len(ordered) // 2]
            samples['workbench_notifier_delivery_seconds{quantile="0.99"}'] = ordered[
                min(len(ordered) - 1, int(len(ordered) * 0.99))
            ]
        return samples
