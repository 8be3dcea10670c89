"""Chat: conversations with agents that take a message and give a reply, stored per user and agent.

The convention (the notebook ``ChatWidget``'s too): an agent chats when it has a text input
``message`` and an output ``reply``; if it also has an input ``history``, each run receives the
conversation so far as ``[{"role": "user" | "assistant", "text": ...}]`` (errors left out). An agent
whose pins are named differently chats through a pin mapping (:class:`ChatPins`).

Sending a message stores it, runs the agent as the user, and yields :class:`ChatUpdate` items as the
run goes: the execution id, each token the reply's node streams (``NODE_STREAM`` on a pin linked to
the ``reply`` output), each node step, and the stored reply, or an error that names the failing node.
A reply that streamed, then failed or was stopped, is stored as
what arrived (``assistant``) followed by the error, both naming the run. Stopping cancels the run;
retrying runs the last user message again. The pure pieces
(:func:`chat_pins`, :func:`history_value`, :class:`ReplyTracker`) serve the notebook widget as well.

A database that cannot be reached comes out of every call as :class:`~workbench.errors.StoreError`
(:class:`~workbench.errors.StoreUnavailable` from the agents' and runs' reads), never as the
driver's own error, so a page can say what happened.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from workbench.engine.plan import Plan
from workbench.engine.state import fast_uuid
from workbench.errors import InputError, NotFoundError, StoreError, StoreUnavailable, WorkbenchError
from workbench.runtime.events import EventType, ExecutionEvent
from workbench.store.chat import ChatMessageRecord, ChatRepository, ChatSessionRecord
from workbench.store.database import UNREACHABLE, reaching_database

if TYPE_CHECKING:
    from workbench.app import Workbench
    from workbench.services.executions.results import NodeExecution
    from workbench.services.executions.service import ExecutionService
    from workbench.services.graphs import GraphService

MESSAGE, REPLY, HISTORY = "message", "reply", "history"
"""The convention's pin names."""
TITLE_LENGTH = 200
MESSAGE_LENGTH = 100_000
# ---- the conversation rules (pure) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChatPins:
    """Which of an agent's pins a chat uses: the input for the message, the output for the reply,
    and the input for the history (None: the agent takes none)."""

    message: str = MESSAGE
    reply: str = REPLY
    history: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (stored with a session)."""
        return {"message": self.message, "reply": self.reply, "history": self.history}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ChatPins:
        """Back from :meth:`to_dict`."""
        return cls(doc.get("message") or MESSAGE, doc.get("reply") or REPLY, doc.get("history"))


def plan_io(plan: Plan) -> tuple[list[str], list[str]]:
    """An agent's input names and output names."""
    return list(plan.input_schema()["properties"]), list(plan.output_schema()["properties"])


def chat_pins(
    name: str,
    inputs: Sequence[str],
    outputs: Sequence[str],
    *,
    message: str = MESSAGE,
    reply: str = REPLY,
    history: str | None = HISTORY,
) -> ChatPins:
    """The pins a chat with agent ``name`` uses; InputError saying what is missing when it cannot chat.

    ``history`` is used only when the agent has that input."""
    problems = []
    if message not in inputs:
        problems.append(f"no input {message!r} (its inputs: {', '.join(inputs) or 'none'})")
    if reply not in outputs:
        problems.append(f"no output {reply!r} (its outputs: {', '.join(outputs) or 'none'})")
    if problems:
        raise InputError(f"agent {name!r} cannot chat: " + "; ".join(problems))
    used_history = history if history and history in inputs and history != message else None
    return ChatPins(message, reply, used_history)


def history_value(messages: Sequence[Any]) -> list[dict[str, str]]:
    """The ``history`` input from a conversation's messages (records or ``{"role", "text"}`` dicts),
    errors left out."""
    value = []
    for m in messages:
        role, text = (m["role"], m["text"]) if isinstance(m, dict) else (m.role, m.text)
        if role in ("user", "assistant"):
            value.append({"role": role, "text": str(text)})
    return value


def reply_text(value: Any) -> str:
    """A reply output's value as text."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def reply_sources(plan: Plan, reply: str) -> frozenset[tuple[str, str]]:
    """The (node id, output pin) pairs linked into the output named ``reply``: their streamed chunks
    are the reply's tokens."""
    ends = {n.id for n in plan.output_nodes if n.defaults.get("name") == reply}
    return frozenset((link.source_id, link.source_name) for link in plan.graph.links if link.sink_id in ends)


def block_names(plan: Plan) -> dict[str, str]:
    """Node id -> the name of its block, to name a step whose event or record lacks it."""
    return {node_id: pn.block.name for node_id, pn in plan.nodes.items()}


def _seconds(moment: Any) -> float | None:
    if isinstance(moment, datetime):
        return moment.timestamp()
    return float(moment) if isinstance(moment, int | float) else None


@dataclass(frozen=True, slots=True)
class NodeStep:
    """One node execution of a reply's run, as a chat shows it."""

    node_id: str
    block_name: str
    status: str
    started_at: float | None
    ended_at: float | None
    inputs: Any
    outputs: list[Any]
    error: str | None

    @property
    def duration(self) -> float | None:
        """Seconds it took (None until it ended)."""
        if self.started_at is None or self.ended_at is None:
            return None
        return max(self.ended_at - self.started_at, 0.0)

    @classmethod
    def of_event(cls, event: ExecutionEvent, names: dict[str, str] | None = None) -> NodeStep:
        """From a NODE_EXECUTED event (``names``: block names by node id, for events without one)."""
        data = event.data
        node_id = event.node_id or ""
        return cls(
            node_id=node_id,
            block_name=str((names or {}).get(node_id) or data.get("block_name") or event.block_id or ""),
            status=event.status,
            started_at=_seconds(data.get("started_at")),
            ended_at=_seconds(data.get("ended_at")),
            inputs=data.get("inputs"),
            outputs=list(data.get("outputs") or []),
            error=data.get("error"),
        )

    @classmethod
    def of_stored(cls, ne: NodeExecution, names: dict[str, str] | None = None) -> NodeStep:
        """From a stored node execution (``names``: block names by node id)."""
        return cls(
            node_id=ne.node_id,
            block_name=(names or {}).get(ne.node_id) or ne.block_name or ne.block_id,
            status=str(ne.status),
            started_at=_seconds(ne.started_at),
            ended_at=_seconds(ne.ended_at),
            inputs=ne.inputs,
            outputs=[list(o) for o in ne.outputs],
            error=ne.error,
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a reply's run ended: the reply text, or the error (``ok`` False)."""

    ok: bool
    text: str


@dataclass
class ReplyTracker:
    """Follows one run's events and tells the reply's tokens, its node steps and how it ended."""

    pins: ChatPins
    sources: frozenset[tuple[str, str]] = frozenset()
    names: dict[str, str] = field(default_factory=dict)
    steps: list[NodeStep] = field(default_factory=list)
    streamed: list[str] = field(default_factory=list)

    def token(self, event: ExecutionEvent) -> str | None:
        """The reply's next piece if ``event`` streams one."""
        if event.type != EventType.NODE_STREAM:
            return None
        pin = event.data.get("pin")
        if self.sources and (event.node_id, pin) not in self.sources:
            return None
        chunk = event.data.get("chunk")
        if not isinstance(chunk, str):
            return None
        self.streamed.append(chunk)
        return chunk

    def step(self, event: ExecutionEvent) -> NodeStep | None:
        """The node step ``event`` reports, if it is one."""
        if event.type != EventType.NODE_EXECUTED:
            return None
        found = NodeStep.of_event(event, self.names)
        self.steps.append(found)
        return found

    def outcome(self, event: ExecutionEvent) -> Outcome:
        """The reply or the error, from the run's final event."""
        data = event.data
        values = (data.get("outputs") or {}).get(self.pins.reply) or []
        if event.status == "COMPLETED" and values:
            return Outcome(True, reply_text(values[-1]))
        if event.status == "CANCELLED":
            return Outcome(False, "Stopped: the run was cancelled.")
        error = data.get("error")
        node = data.get("error_node_id") or next((s.node_id for s in self.steps if s.error), None)
        if node is None:
            reason = error or f"the agent gave no {self.pins.reply!r}"
            return Outcome(False, f"The run ended {event.status}: {reason}")
        block = next((s.block_name for s in self.steps if s.node_id == node), "")
        where = f"node {node!r}" + (f" ({block})" if block else "")
        return Outcome(False, f"The run failed at {where}: {error or 'no error message'}")


# ---- what a send yields ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChatUpdate:
    """One thing that happened while a reply was coming: ``kind`` is ``started`` (``execution_id``),
    ``token`` (``text``), ``step`` (``step``) or ``reply`` (``message``: the stored reply or error)."""

    kind: str
    execution_id: str | None = None
    text: str = ""
    step: NodeStep | None = None
    message: ChatMessageRecord | None = None


@dataclass(frozen=True, slots=True)
class ChatAgent:
    """One of the user's agents as Chat sees it: its pins, and whether (and how) it can chat."""

    id: str
    name: str
    inputs: list[str]
    outputs: list[str]
    pins: ChatPins | None
    problem: str | None


def _check_id(value: str, what: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise NotFoundError(f"{what} {value!r} not found") from None


class ChatService:
    """Conversations of users with their agents; every call is scoped to ``user_id``."""

    def __init__(self, repo: ChatRepository, executions: ExecutionService, graphs: GraphService) -> None:
        self.repo = repo
        self.executions = executions
        self.graphs = graphs

    @classmethod
    def of(cls, wb: Workbench) -> ChatService:
        """The chat service over a started Workbench with a database."""
        if wb.db is None or not wb.started:
            raise WorkbenchError("chat needs a started workbench with a database")
        return cls(ChatRepository(wb.db.pool), wb.executions, wb.graphs)

    # ---- agents --------------------------------------------------------------------------------

    async def agent(self, graph_id: str, user_id: str, pins: dict[str, Any] | None = None) -> ChatAgent:
        """The user's agent ``graph_id`` and how it chats (with ``pins`` naming its pins, if given)."""
        async with reaching_database("read the agent"):
            plan = await self.graphs.stored_plan(_check_id(graph_id, "agent"), user_id)
        inputs, outputs = plan_io(plan)
        wanted = {k: v for k, v in (pins or {}).items() if v}
        try:
            found: ChatPins | None = chat_pins(plan.graph.name, inputs, outputs, **wanted)
            problem = None
        except InputError as exc:
            found, problem = None, str(exc)
        return ChatAgent(plan.graph.id, plan.graph.name, inputs, outputs, found, problem)

    async def agents(self, user_id: str, limit: int = 200) -> list[ChatAgent]:
        """The user's agents, newest first, each with its chat pins or why it cannot chat as is."""
        async with reaching_database("list the agents"):
            summaries, _ = await self.graphs.list(user_id, limit=limit)
        found = []
        for summary in summaries:
            try:
                found.append(await self.agent(summary.id, user_id))
            except StoreError:  # the database, not the agent: nothing to list
                raise
            except WorkbenchError as exc:  # a graph this process cannot compile: say so, list it
                found.append(ChatAgent(summary.id, summary.name, [], [], None, str(exc)))
        return found

    # ---- sessions ------------------------------------------------------------------------------

    async def create_session(
        self, user_id: str, graph_id: str, *, title: str | None = None, pins: dict[str, Any] | None = None
    ) -> ChatSessionRecord:
        """A new conversation with the user's agent; InputError when the agent cannot chat."""
        agent = await self.agent(graph_id, user_id, pins)
        if agent.pins is None:
            raise InputError(agent.problem or f"agent {agent.name!r} cannot chat")
        name = _title(title) if title is not None else f"Chat with {agent.name}"[:TITLE_LENGTH]
        return await self.repo.create_session(user_id, agent.id, name, agent.pins.to_dict())

    async def session(self, session_id: str, user_id: str) -> ChatSessionRecord:
        """The user's conversation (NotFoundError otherwise)."""
        found = await self.repo.get_session(_check_id(session_id, "conversation"), user_id)
        if found is None:
            raise NotFoundError(f"conversation {session_id} not found")
        return found

    async def sessions(self, user_id: str, graph_id: str | None = None) -> list[ChatSessionRecord]:
        """The user's conversations (with one agent, or all), most recently active first."""
        if graph_id is not None:
            graph_id = _check_id(graph_id, "agent")
        return await self.repo.list_sessions(user_id, graph_id=graph_id)

    async def rename(self, session_id: str, user_id: str, title: str) -> ChatSessionRecord:
        """Give the conversation a new title."""
        found = await self.repo.update_session(
            _check_id(session_id, "conversation"), user_id, title=_title(title)
        )
        if found is None:
            raise NotFoundError(f"conversation {session_id} not found")
        return found

    async def delete(self, session_id: str, user_id: str) -> None:
        """Delete the conversation and its messages."""
        if not await self.repo.delete_session(_check_id(session_id, "conversation"), user_id):
            raise NotFoundError(f"conversation {session_id} not found")

    async def messages(self, session_id: str, user_id: str) -> list[ChatMessageRecord]:
        """The conversation's messages, oldest first."""
        session = await self.session(session_id, user_id)
        return await self.repo.messages(session.id, user_id)

    async def steps(self, execution_id: str, user_id: str) -> list[NodeStep]:
        """The node steps of a stored reply's run (of the user's)."""
        async with reaching_database("read the run"):
            result = await self.executions.get(_check_id(execution_id, "run"), user_id)
            try:
                plan = await self.graphs.stored_plan(result.graph_id, user_id, result.graph_version)
            except StoreError:
                raise
            except WorkbenchError:  # the agent is gone: the steps keep their block ids
                plan = None
        names = block_names(plan) if plan is not None else {}
        return [NodeStep.of_stored(ne, names) for ne in result.node_executions]

    # ---- talking -------------------------------------------------------------------------------

    async def send(self, session_id: str, user_id: str, text: str) -> AsyncIterator[ChatUpdate]:
        """Store the user's message, run the agent, yield the reply as it comes, store it."""
        text = text.strip()
        if not text:
            raise InputError("message: empty")
        if len(text) > MESSAGE_LENGTH:
            raise InputError(f"message: longer than {MESSAGE_LENGTH} characters")
        session = await self.session(session_id, user_id)
        earlier = await self.repo.messages(session.id, user_id)
        await self.repo.add_message(session.id, user_id, "user", text)
        async for update in self._reply(session, user_id, text, earlier):
            yield update

    async def retry(self, session_id: str, user_id: str) -> AsyncIterator[ChatUpdate]:
        """Run the conversation's last user message again (with the history before it)."""
        session = await self.session(session_id, user_id)
        messages = await self.repo.messages(session.id, user_id)
        last = next((i for i in range(len(messages) - 1, -1, -1) if messages[i].role == "user"), None)
        if last is None:
            raise InputError("retry: the conversation has no message to send again")
        async for update in self._reply(session, user_id, messages[last].text, messages[:last]):
            yield update

    async def stop(self, execution_id: str, user_id: str) -> str:
        """Cancel a reply's run; its status after the request."""
        async with reaching_database("stop the run"):
            return await self.executions.cancel(_check_id(execution_id, "run"), user_id)

    async def _reply(
        self, session: ChatSessionRecord, user_id: str, text: str, earlier: Sequence[ChatMessageRecord]
    ) -> AsyncIterator[ChatUpdate]:
        pins = ChatPins.from_dict(session.pins)
        inputs: dict[str, Any] = {pins.message: text}
        if pins.history:
            inputs[pins.history] = history_value(earlier)
        execution_id = fast_uuid()
        try:
            plan = await self.graphs.stored_plan(session.graph_id, user_id)
            tracker = ReplyTracker(pins, reply_sources(plan, pins.reply), block_names(plan))
            events = self.executions.stream(
                session.graph_id, inputs, user_id=user_id, execution_id=execution_id
            )
            first = True
            async for event in events:
                if first:
                    first = False
                    yield ChatUpdate("started", execution_id=execution_id)
                if (token := tracker.token(event)) is not None:
                    yield ChatUpdate("token", execution_id=execution_id, text=token)
                elif (step := tracker.step(event)) is not None:
                    yield ChatUpdate("step", execution_id=execution_id, step=step)
                elif event.is_final:
                    outcome = tracker.outcome(event)
                    if not outcome.ok and tracker.streamed:  # keep what the user saw arrive
                        await self.repo.add_message(
                            session.id, user_id, "assistant", "".join(tracker.streamed), execution_id
                        )
                    stored = await self.repo.add_message(
                        session.id,
                        user_id,
                        "assistant" if outcome.ok else "error",
                        outcome.text,
                        execution_id,
                    )
                    yield ChatUpdate("reply", execution_id=execution_id, text=outcome.text, message=stored)
                    return
        except (InputError, NotFoundError) as exc:
            stored = await self.repo.add_message(
                session.id, user_id, "error", f"The agent could not run: {exc}", None
            )
            yield ChatUpdate("reply", text=stored.text if stored else str(exc), message=stored)
        except TimeoutError:  # an OSError, but something slow, not the database
            raise
        except UNREACHABLE as exc:  # reading the agent or starting its run
            raise StoreUnavailable(f"cannot run the agent: {exc}") from exc


def _title(title: str) -> str:
    clean = " ".join(title.split())
    if not clean:
        raise InputError("title: empty")
    if len(clean) > TITLE_LENGTH:
        raise InputError(f"title: longer than {TITLE_LENGTH} characters")
    return clean
