"""The drafting assistant: a model of the user's choosing proposes a graph through tool calls.

``propose`` sends the request, the earlier turns and the graph on the canvas to the model, and
applies each tool call it makes to a working copy (:mod:`.board`), checked at once; the tool's answer
(the validator's message when refused) goes back, so the model can correct itself. At ``finish`` (or
when the model stops calling tools) the whole graph is validated with the graph service; problems go
back to the model a bounded number of times. A graph still invalid is not accepted: the proposal
then carries the base graph unchanged, the problems and the model's words.

Which model: the user's vault credential ``credential_id`` (any provider :mod:`workbench.llm`
supports; an OpenAI-compatible one names its ``base_url`` and ``model`` in its secret), else the
user's only LLM credential, else the environment's provider, else :class:`AssistantNotConfigured`.
Base URLs from credentials go through the outbound guard (``WORKBENCH_HTTP_ALLOW``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.drafting import prompt, tools
from workbench.drafting.board import DraftBoard
from workbench.errors import ConfigError, GraphValidationError, InputError, Problem, ServerError
from workbench.graph.model import Graph
from workbench.llm import LLMError, ProviderConfig, chat, config_from_env
from workbench.llm.config import DEFAULT_BASE_URLS, HOW_TO_CONFIGURE
from workbench.llm.types import Message
from workbench.net.errors import BlockedAddress
from workbench.net.policy import HttpPolicy

if TYPE_CHECKING:
    from workbench.app import Workbench

log = logging.getLogger(__name__)

MAX_ROUNDS = 8
"""Most model calls one proposal makes."""
MAX_FIXES = 2
"""How many times the whole graph's problems go back to the model before giving up."""
DEFAULT_MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku-latest"}
"""The model used when neither the call nor the credential or environment names one."""
LLM_PROVIDERS = frozenset(DEFAULT_BASE_URLS)
"""Credential providers that are LLM endpoints."""
REQUEST_LENGTH = 20_000


class AssistantNotConfigured(InputError):
    """No model for the assistant: the message says how to configure one."""


class AssistantFailed(ServerError):
    """The assistant's model failed (the provider's error, unreachable...): a 502 at the API."""


class DraftNotAccepted(GraphValidationError):
    """``draft_agent``: the assistant's graph is still invalid; ``proposal`` holds its reply and
    problems, and the message says both."""

    def __init__(self, proposal: Proposal) -> None:
        super().__init__(list(proposal.problems))
        self.proposal = proposal
        lines = "\n".join(f"  - {p}" for p in proposal.problems)
        said = proposal.reply.strip() or "(no reply)"
        self.args = (f"the assistant's graph is not valid; it said: {said}\nproblems:\n{lines}",)


@dataclass(frozen=True)
class Proposal:
    """What one request to the assistant gave."""

    graph: Graph
    """The proposed graph (the base graph, unchanged, when not accepted)."""
    reply: str
    """The assistant's words to show in the chat."""
    changes: list[str]
    """One readable line per applied operation (not accepted: what was tried on the draft)."""
    problems: list[Problem]
    """The validator's problems of the proposal (empty when accepted)."""
    accepted: bool
    """A valid graph to show on the canvas; False: the canvas must not change."""

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as the API returns it."""
        return {
            "graph": self.graph.model_dump(mode="json"),
            "reply": self.reply,
            "changes": list(self.changes),
            "problems": [p.to_dict() for p in self.problems],
            "accepted": self.accepted,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Proposal:
        """Back from :meth:`to_dict` (the API's answer)."""
        return cls(
            graph=Graph.model_validate(doc["graph"]),
            reply=str(doc.get("reply") or ""),
            changes=[str(c) for c in doc.get("changes") or []],
            problems=[
                Problem(
                    str(p.get("message")),
                    node_id=p.get("node_id"),
                    pin=p.get("pin"),
                    link_id=p.get("link_id"),
                    code=str(p.get("code") or "invalid"),
                )
                for p in doc.get("problems") or []
            ],
            accepted=bool(doc.get("accepted")),
        )


class AgentDrafter:
    """Proposes graphs from a person's words (see the module documentation)."""

    def __init__(self, wb: Workbench) -> None:
        self.wb = wb

    async def propose(
        self,
        user_id: str,
        request: str,
        *,
        base: Graph | None = None,
        history: Sequence[Mapping[str, str]] = (),
        credential_id: str | None = None,
        model: str | None = None,
    ) -> Proposal:
        """One turn of the conversation: the model's proposal for ``request`` on ``base``."""
        if not isinstance(request, str) or not request.strip():
            raise InputError("request: say what the agent should do")
        if len(request) > REQUEST_LENGTH:
            raise InputError(f"request: at most {REQUEST_LENGTH} characters")
        turns = prompt.check_history(history)
        base = base if base is not None else Graph(name="Untitled agent")
        config = await self.provider(user_id, credential_id, model)
        chosen = model or config.model or DEFAULT_MODELS[config.api]
        board = DraftBoard(base, self.wb.registry)
        messages = prompt.conversation(request, board.summary(), turns)
        try:
            return await self._loop(user_id, base, board, messages, config, chosen)
        except BlockedAddress:
            raise  # the credential's base URL is refused: the caller's to fix (422)
        except LLMError as exc:
            raise AssistantFailed(f"the assistant's model failed: {exc}") from exc

    async def _loop(
        self,
        user_id: str,
        base: Graph,
        board: DraftBoard,
        messages: list[Message],
        config: ProviderConfig,
        model: str,
    ) -> Proposal:
        """Call the model and apply its tool calls, at most :data:`MAX_ROUNDS` times."""
        reply, fixes = "", 0
        problems: list[Problem] = []
        refused: list[str] = []
        for _ in range(MAX_ROUNDS):
            response = await chat(messages, config=config, model=model, tools=tools.TOOLS)
            messages.append(response.message())
            reply = response.text.strip() or reply
            finished = not response.tool_calls
            finish_call = None
            for call in response.tool_calls:
                if call.name == tools.FINISH:
                    finished, finish_call = True, call
                    summary = _summary(call.arguments)
                    reply = summary or reply
                result = tools.apply(board, self.wb.registry, call.name, call.arguments)
                if result.startswith("error: "):
                    refused.append(result.removeprefix("error: "))
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
            if not finished:
                continue
            problems = await self.wb.graphs.problems(board.graph, user_id)
            if not problems:
                return _valid(base, board, reply, refused)
            fixes += 1
            if fixes > MAX_FIXES:
                break
            feedback = prompt.problems_text(problems)
            if finish_call is not None:  # the finish call's answer: the problems
                _answer_finish(messages, finish_call.id, feedback)
            else:
                messages.append({"role": "user", "content": feedback})
        else:
            problems = await self.wb.graphs.problems(board.graph, user_id)
            if not problems:  # out of rounds, but what it built is valid
                return _valid(base, board, reply, refused)
        log.info("draft not accepted: %d problem(s) left after %d check(s)", len(problems), fixes)
        return Proposal(base, reply or "I could not make a valid graph.", board.changes, problems, False)

    async def provider(self, user_id: str, credential_id: str | None, model: str | None) -> ProviderConfig:
        """The model's endpoint: the chosen credential, the user's only LLM credential, the environment."""
        vault = self.wb.credentials
        # The outbound guard of runs (a credential's base URL is the user's choice).
        policy = HttpPolicy.from_settings(self.wb.executions.settings)
        if credential_id:
            if vault is None:
                raise InputError("credential_id: this workbench stores no credentials")
            await vault.check_owned(user_id, [credential_id], "credential_id")
            cred = await vault.resolve(user_id, credential_id)
            return _from_secret(cred.meta.provider, cred.secret, policy, "credential_id")
        if vault is not None:
            found = [c for c in await vault.list(user_id) if c.provider in LLM_PROVIDERS]
            if len(found) > 1:
                names = ", ".join(f"{c.id} ({c.provider}{', ' + c.title if c.title else ''})" for c in found)
                raise InputError(f"credential_id: you have several LLM credentials; choose one: {names}")
            if found:
                cred = await vault.resolve(user_id, found[0].id)
                return _from_secret(cred.meta.provider, cred.secret, policy, "credentials")
        config = config_from_env(model=model)
        if config is None:
            raise AssistantNotConfigured(f"the assistant needs an LLM: {HOW_TO_CONFIGURE}")
        return config


def _from_secret(provider: str, secret: dict[str, Any], policy: HttpPolicy, where: str) -> ProviderConfig:
    try:
        return ProviderConfig.from_secret(provider, secret, policy)
    except ConfigError as exc:
        raise InputError(f"{where}: {exc}") from exc


def _summary(arguments: str) -> str:
    """The ``summary`` argument of a finish call ('' when absent or unreadable)."""
    try:
        args = json.loads(arguments or "{}")
    except ValueError:
        return ""
    summary = args.get("summary") if isinstance(args, dict) else None
    return summary.strip() if isinstance(summary, str) else ""


def _valid(base: Graph, board: DraftBoard, reply: str, refused: list[str]) -> Proposal:
    """The proposal of a valid board; one that changed nothing because every change it tried was
    refused is not accepted (those refusals are its problems)."""
    if not board.changes and refused:
        problems = [Problem(message) for message in dict.fromkeys(refused)]
        return Proposal(base, reply or "Nothing I tried was possible.", [], problems, False)
    return Proposal(board.graph, reply or "Done.", board.changes, [], True)


def _answer_finish(messages: list[Message], call_id: str, feedback: str) -> None:
    """Make ``feedback`` the answer of the finish call ``call_id`` (the validator's problems)."""
    for message in reversed(messages):
        if message.get("role") == "tool" and message.get("tool_call_id") == call_id:
            message["content"] = feedback
            return
