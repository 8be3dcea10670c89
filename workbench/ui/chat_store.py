"""What the Chat page reads and does, through the chat service, as the logged-in user: the user's
agents and conversations, a conversation's messages and each reply's node steps, sending, retrying,
stopping. No rules of its own: those live in :mod:`workbench.services.chat`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from workbench.services.chat import ChatAgent, ChatService, ChatUpdate, NodeStep
from workbench.store.chat import ChatMessageRecord, ChatSessionRecord
from workbench.ui.context import UiContext


class ChatStore:
    """The chat service, bound to ``ctx.user_id``."""

    def __init__(self, ctx: UiContext, service: ChatService | None = None) -> None:
        self.ctx = ctx
        self.service = service or ChatService.of(ctx.wb)

    @property
    def user_id(self) -> str:
        """Who is looking."""
        return self.ctx.user_id

    async def agents(self) -> list[ChatAgent]:
        """The user's agents and whether each can chat."""
        return await self.service.agents(self.user_id)

    async def agent(self, graph_id: str, pins: dict[str, Any] | None = None) -> ChatAgent:
        """One of the user's agents, with ``pins`` naming its chat pins if given."""
        return await self.service.agent(graph_id, self.user_id, pins)

    async def sessions(self) -> list[ChatSessionRecord]:
        """The user's conversations, most recently active first."""
        return await self.service.sessions(self.user_id)

    async def create(self, graph_id: str, pins: dict[str, Any] | None = None) -> ChatSessionRecord:
        """A new conversation with the agent."""
        return await self.service.create_session(self.user_id, graph_id, pins=pins)

    async def rename(self, session_id: str, title: str) -> ChatSessionRecord:
        """Rename a conversation."""
        return await self.service.rename(session_id, self.user_id, title)

    async def delete(self, session_id: str) -> None:
        """Delete a conversation."""
        await self.service.delete(session_id, self.user_id)

    async def messages(self, session_id: str) -> list[ChatMessageRecord]:
        """A conversation's messages, oldest first."""
        return await self.service.messages(session_id, self.user_id)

    async def steps(self, execution_id: str) -> list[NodeStep]:
        """A stored reply's node steps."""
        return await self.service.steps(execution_id, self.user_id)

    def send(self, session_id: str, text: str) -> AsyncIterator[ChatUpdate]:
        """Send a message; the reply as it comes."""
        return self.service.send(session_id, self.user_id, text)

    def retry(self, session_id: str) -> AsyncIterator[ChatUpdate]:
        """Run the last message again; the reply as it comes."""
        return self.service.retry(session_id, self.user_id)

    async def stop(self, execution_id: str) -> str:
        """Cancel a reply's run."""
        return await self.service.stop(execution_id, self.user_id)
