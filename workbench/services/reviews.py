"""Human reviews: a node waits until a person approves, rejects or changes its data.

This module holds every rule about reviews; the API, the clients, the CLI, the notebook widget, the
Monitor and the signed-link page call it, and running blocks reach it through ``RunContext.review``
(it is the :class:`~workbench.block.review.ReviewDesk` of every run of the process).

* **Asking** (:meth:`ReviewService.ask`). A stored run's node execution gets one review, found again
  on every replay by (execution, node, sequence number). A decision already stored is the answer;
  otherwise the review is stored WAITING and the node pauses (:class:`AwaitingReview`): the node
  execution and then the run show REVIEW, the run's attempt ends, and no executor holds it. A run
  that stores nothing waits in memory instead, in the node's task, for an answer given through this
  same service in this process (or its timeout).
* **Answering** (:meth:`ReviewService.decide`): the review's owner only (another user's review is
  "not found"), once (a second decision is a ConflictError), while its run goes on; ``data`` only on
  an approval of an editable review (InvalidFields naming ``data`` otherwise). The decision is stored
  in one conditional statement, then the run is queued again (:meth:`resume`): any executor claims it
  and replays it, completed node executions deliver their stored outputs without running again, and
  the paused node runs again and gets the answer.
* **Timeouts**: a review asked with ``timeout_seconds`` gets its ``default_decision`` when the time is
  up, applied by a sweep (every ``WORKBENCH_REVIEW_SWEEP_INTERVAL`` seconds, in every process that
  runs stored runs) or by the node itself if it runs again first. The sweep also queues again runs
  whose decision was stored but whose queuing was lost (the process died in between).
* **Signed links** (:meth:`signed_link`): ``<base>/review/<id>?token=<HMAC>`` opens a small page that
  needs no login; the token (HMAC-SHA256 of the review id, with a key derived by HKDF from the
  installation secret) works for that review only, and only while it waits.

Safe mode is a run's switch (``submit(..., safe_mode=False)``): off, ``RunContext.review`` approves at
once, saying so, and nothing is stored here.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from workbench import jsonutil
from workbench.block.review import DECISIONS, AwaitingReview, ReviewAnswer, ReviewRequest
from workbench.config import Settings
from workbench.errors import ConflictError, InputError, InvalidFields, NotFoundError
from workbench.secrets import Keys
from workbench.services.executions import ExecutionService
from workbench.store.reviews import STATUSES, UNFINISHED_RUN, ReviewRecord, ReviewRepository

log = logging.getLogger(__name__)

MAX_MESSAGE = 10_000
"""The longest message a reviewer may leave (characters)."""
RECENT_IN_MEMORY = 1000
"""Decided reviews of runs that store nothing, remembered for reading (newest last)."""
LINK_PATH = "/review/{review_id}"
"""Where a server serves the signed-link page of a review."""


class _Unchanged:
    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Any = _Unchanged()
"""``decide(..., data=UNCHANGED)``: pass the data on as it was asked (the default)."""


class ReviewInputError(InvalidFields):
    """A decision that cannot be taken as given: ``problems`` names each field."""


def link_key(keys: Keys) -> bytes:
    """The key of review links: its own, derived from the installation's API key secret."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"workbench review links v1").derive(
        keys.api_keys
    )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


def _answer(rec: ReviewRecord) -> ReviewAnswer:
    approved = rec.decision == "approve"
    return ReviewAnswer(
        approved=approved,
        data=rec.reviewed_data if approved else rec.data,
        message=rec.message or None,
        review_id=rec.id,
        status=rec.status,
    )


@dataclass(slots=True)
class _Waiter:
    """A review a run that stores nothing waits for, in memory."""

    record: ReviewRecord
    future: asyncio.Future[ReviewRecord]


class ReviewService:
    """Asks, lists, answers and times out human reviews (see the module documentation)."""

    def __init__(self, settings: Settings, executions: ExecutionService | None = None) -> None:
        self.settings = settings
        self.executions = executions
        self.repo: ReviewRepository | None = None
        self._link_key: bytes | None = None
        self._memory: dict[str, _Waiter] = {}
        self._recent: OrderedDict[str, ReviewRecord] = OrderedDict()
        self._task: asyncio.Task[None] | None = None

    def connect(self, repo: ReviewRepository | None, executions: ExecutionService, keys: Keys | None) -> None:
        """Use storage (None: reviews live in memory only), this executions service and these keys."""
        self.repo = repo
        self.executions = executions
        self._link_key = link_key(keys) if keys is not None else None

    # ---- the block's side -------------------------------------------------------------------------

    async def ask(self, request: ReviewRequest) -> ReviewAnswer:
        """The answer to a node execution's review (see the module documentation)."""
        if request.stored and self.repo is not None:
            return await self._ask_stored(request, self.repo)
        return await self._ask_in_memory(request)

    async def _ask_stored(self, request: ReviewRequest, repo: ReviewRepository) -> ReviewAnswer:
        rec = await repo.find(request.execution_id, request.node_id, request.seq)
        if rec is None:
            q = request.question
            rec = await repo.create(
                {
                    "execution_id": request.execution_id,
                    "root_execution_id": request.root_execution_id,
                    "node_id": request.node_id,
                    "seq": request.seq,
                    "node_execution_id": request.node_execution_id,
                    "user_id": request.user_id,
                    "graph_id": request.graph_id,
                    "graph_version": request.graph_version,
                    "name": q.name,
                    "data": q.data,
                    "editable": q.editable,
                    "default_decision": q.default_decision,
                    "timeout_seconds": q.timeout_seconds,
                }
            )
        if rec.status == "WAITING" and rec.expires_at is not None and rec.expires_at <= datetime.now(UTC):
            await repo.time_out(rec.id)  # its time is up: the default applies now
            rec = await repo.find(request.execution_id, request.node_id, request.seq) or rec
        if rec.status == "WAITING":
            raise AwaitingReview(rec.id, rec.summary())
        return _answer(rec)

    async def _ask_in_memory(self, request: ReviewRequest) -> ReviewAnswer:
        q = request.question
        now = datetime.now(UTC)
        rec = ReviewRecord(
            id=str(uuid.uuid4()),
            execution_id=request.execution_id,
            root_execution_id=request.root_execution_id,
            node_id=request.node_id,
            seq=request.seq,
            node_execution_id=request.node_execution_id,
            user_id=request.user_id,
            graph_id=request.graph_id,
            graph_version=request.graph_version,
            name=q.name,
            data=q.data,
            editable=q.editable,
            status="WAITING",
            default_decision=q.default_decision,
            timeout_seconds=q.timeout_seconds,
            created_at=now,
            expires_at=now + timedelta(seconds=q.timeout_seconds) if q.timeout_seconds else None,
            run_status="RUNNING",
        )
        waiter = _Waiter(rec, asyncio.get_running_loop().create_future())
        self._memory[rec.id] = waiter
        if request.waiting is not None:
            request.waiting(rec.summary())
        try:
            try:
                decided = await asyncio.wait_for(asyncio.shield(waiter.future), q.timeout_seconds or None)
            except TimeoutError:
                decided = waiter.future.result() if waiter.future.done() else self._timed_out(rec)
        except asyncio.CancelledError:
            self._remember(waiter.record.with_(run_status="CANCELLED"))
            raise
        finally:
            self._memory.pop(rec.id, None)
            if request.waiting is not None:
                request.waiting(None)
        self._remember(decided)
        return _answer(decided)

    @staticmethod
    def _timed_out(rec: ReviewRecord) -> ReviewRecord:
        verdict = "approved" if rec.default_decision == "approve" else "rejected"
        return rec.with_(
            status="TIMED_OUT",
            decision=rec.default_decision,
            reviewed_data=rec.data,
            message=f"timed out after {rec.timeout_seconds:g} s: {verdict} by default",
            decided_via="timeout",
            decided_at=datetime.now(UTC),
        )

    def _remember(self, rec: ReviewRecord) -> None:
        self._recent[rec.id] = rec
        while len(self._recent) > RECENT_IN_MEMORY:
            self._recent.popitem(last=False)

    def _in_memory(self, review_id: str, user_id: str | None) -> ReviewRecord | None:
        waiter = self._memory.get(review_id)
        rec = waiter.record if waiter is not None else self._recent.get(review_id)
        if rec is None or (user_id is not None and rec.user_id != user_id):
            return None
        return rec

    # ---- the front doors' side --------------------------------------------------------------------

    async def list(
        self,
        user_id: str,
        *,
        status: str | None = None,
        execution_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[ReviewRecord], int]:
        """The user's reviews, newest first, and how many match: those of one run with
        ``execution_id``; ``status="WAITING"`` gives the ones waiting for an answer that can still take
        effect (their run goes on)."""
        if status is not None and status not in STATUSES:
            raise ReviewInputError([("status", f"must be one of {', '.join(STATUSES)}")])
        if execution_id is not None and not _is_uuid(execution_id):
            raise NotFoundError(f"execution {execution_id} not found")
        own = [
            rec
            for rec in [w.record for w in self._memory.values()] + list(self._recent.values())
            if rec.user_id == user_id
            and (status is None or rec.status == status)
            and (execution_id is None or execution_id in (rec.execution_id, rec.root_execution_id))
            and (status != "WAITING" or rec.waiting)
        ]
        own.sort(key=lambda r: r.created_at, reverse=True)
        if self.repo is None:
            return own[offset : offset + limit], len(own)
        stored, total = await self.repo.list(
            user_id, status=status, execution_id=execution_id, limit=limit + offset, offset=0
        )
        both = sorted(own + stored, key=lambda r: (r.created_at, r.id), reverse=True)
        return both[offset : offset + limit], total + len(own)

    async def get(self, review_id: str, user_id: str | None) -> ReviewRecord:
        """One review of the user (any user's for None); NotFoundError otherwise."""
        found = self._in_memory(review_id, user_id)
        if found is None and self.repo is not None and _is_uuid(review_id):
            found = await self.repo.get(review_id, user_id)
        if found is None:
            raise NotFoundError(f"review {review_id} not found")
        return found

    async def decide(
        self,
        review_id: str,
        user_id: str | None,
        decision: str,
        *,
        data: Any = UNCHANGED,
        message: str | None = None,
        via: str = "api",
    ) -> ReviewRecord:
        """Answer a review: ``decision`` "approve" or "reject"; ``data`` (editable reviews, approvals
        only) replaces the data passed on; ``message`` is passed on as the block's ``review_message``.
        NotFoundError unless it is ``user_id``'s; ConflictError when it was decided already (or timed
        out), or its run has ended; ReviewInputError naming the field that cannot be taken. The run
        is queued again; the review as decided is returned."""
        problems = []
        if decision not in DECISIONS:
            problems.append(("decision", "must be 'approve' or 'reject'"))
        if message is not None and not isinstance(message, str):
            problems.append(("message", "must be a text"))
        elif message is not None and len(message) > MAX_MESSAGE:
            problems.append(("message", f"must be at most {MAX_MESSAGE} characters"))
        if data is not UNCHANGED and jsonutil.nul_path(data, "data") is not None:
            problems.append(("data", "contains a NUL character (U+0000), which cannot be stored"))
        if problems:
            raise ReviewInputError(problems)
        rec = await self.get(review_id, user_id)
        self._check_open(rec)
        if data is not UNCHANGED:
            if not rec.editable:
                raise ReviewInputError(
                    [("data", "this review is not editable: approve or reject the data as it is")]
                )
            if decision != "approve":
                raise ReviewInputError([("data", "only an approval can change the data")])
        message = message or None
        waiter = self._memory.get(rec.id)
        if waiter is not None:
            return self._decide_in_memory(waiter, decision, data, message, user_id, via)
        assert self.repo is not None
        stored = await self.repo.decide(
            rec.id,
            decision=decision,
            data_given=data is not UNCHANGED,
            data=None if data is UNCHANGED else data,
            message=message,
            decided_by=user_id or rec.user_id,
            via=via,
        )
        if not stored:  # decided meanwhile, or its time ran out
            fresh = await self.get(rec.id, None)
            if fresh.status == "WAITING" and await self.repo.time_out(rec.id):
                await self.resume(rec.root_execution_id)
                fresh = await self.get(rec.id, None)
            self._check_open(fresh)
            raise ConflictError(f"review {rec.id} could not be decided: try again")
        await self.resume(rec.root_execution_id)
        return await self.get(rec.id, None)

    @staticmethod
    def _check_open(rec: ReviewRecord) -> None:
        """ConflictError when a decision can no longer be taken, saying why."""
        if rec.status != "WAITING":
            how = "timed out" if rec.status == "TIMED_OUT" else f"was {rec.status.lower()}"
            when = f" at {rec.decided_at:%Y-%m-%d %H:%M:%S} UTC" if rec.decided_at else ""
            default = f" (its default, {rec.decision}, applied)" if rec.status == "TIMED_OUT" else ""
            raise ConflictError(f"review {rec.id} {how} already{when}{default}")
        if rec.run_status not in UNFINISHED_RUN:
            raise ConflictError(
                f"review {rec.id} can no longer take effect: its run is {rec.run_status.lower()}"
            )

    def _decide_in_memory(
        self, waiter: _Waiter, decision: str, data: Any, message: str | None, user_id: str | None, via: str
    ) -> ReviewRecord:
        rec = waiter.record
        decided = rec.with_(
            status="APPROVED" if decision == "approve" else "REJECTED",
            decision=decision,
            reviewed_data=rec.data if data is UNCHANGED else data,
            message=message,
            decided_by=user_id or rec.user_id,
            decided_via=via,
            decided_at=datetime.now(UTC),
        )
        waiter.record = decided
        if not waiter.future.done():
            waiter.future.set_result(decided)
        return decided

    # ---- signed links -----------------------------------------------------------------------------

    def link_token(self, review_id: str) -> str:
        """The token of a review's link (HMAC-SHA256 of its id)."""
        if self._link_key is None:
            raise InputError("review links need a workbench with a database (and its secret key)")
        mac = hmac.new(self._link_key, b"review-link:" + review_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def signed_link(self, review_id: str, base_url: str) -> str:
        """The page where anyone holding this link answers the review (``base_url``: the server's
        public root, e.g. ``https://wb.example.com``): it works while the review waits."""
        path = LINK_PATH.format(review_id=review_id)
        return f"{base_url.rstrip('/')}{path}?token={self.link_token(review_id)}"

    async def by_link(self, review_id: str, token: str) -> ReviewRecord:
        """The review a link names, whatever its state; NotFoundError when the token is not its own."""
        if self._link_key is None or not _is_uuid(review_id):
            raise NotFoundError("no such review, or the link is not valid")
        if not hmac.compare_digest(self.link_token(review_id).encode(), (token or "").encode()):
            raise NotFoundError("no such review, or the link is not valid")
        return await self.get(review_id, None)

    async def decide_by_link(
        self, review_id: str, token: str, decision: str, *, data: Any = UNCHANGED, message: str | None = None
    ) -> ReviewRecord:
        """Answer through a signed link (as the review's owner)."""
        rec = await self.by_link(review_id, token)
        return await self.decide(rec.id, rec.user_id, decision, data=data, message=message, via="link")

    # ---- resuming ---------------------------------------------------------------------------------

    async def resume(self, execution_id: str) -> bool:
        """Queue a top-level run paused for a review again, if a decision about it is stored; whether
        it was (a run not paused, or with nothing decided, stays as it is)."""
        if self.repo is None or self.executions is None:
            return False
        priority = await self.repo.requeue(execution_id, self.executions.requeue_owner())
        if priority is None:
            return False
        await self.executions.publish(execution_id, priority)
        log.info("execution %s queued again after a review", execution_id)
        return True

    async def sweep(self) -> int:
        """Apply the default decision to reviews whose time is up, and queue again every run that has
        an answer waiting for it; how many runs were queued."""
        if self.repo is None:
            return 0
        runs = await self.repo.time_out_due()
        runs += [r for r in await self.repo.answered() if r not in runs]
        count = 0
        for execution_id in runs:
            if await self.resume(execution_id):
                count += 1
        return count

    def start_sweeping(self, interval: float | None = None) -> None:
        """Sweep in the background every ``interval`` seconds (``WORKBENCH_REVIEW_SWEEP_INTERVAL``)."""
        if self._task is None and self.repo is not None:
            every = interval or self.settings.review_sweep_interval
            self._task = asyncio.get_running_loop().create_task(self._loop(every), name="workbench-reviews")

    async def stop(self) -> None:
        """Stop sweeping."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None

    async def _loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                count = await self.sweep()
                if count:
                    log.info("queued %d execution(s) again after their reviews", count)
            except Exception:
                log.exception("sweeping human reviews failed")
