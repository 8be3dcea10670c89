"""The Notify block: an agent tells its user something, on a channel the user set up.

The message goes through the notifier like every notification (:mod:`workbench.services.
notifications`): the user's in-app inbox, email, a signed webhook, Slack or Discord, under their
quiet hours and daily cap. The block never waits for the delivery (a slow mail server never slows the
run); the delivery log (``GET /api/v1/notifications/deliveries``) says how it went. A node that runs
again after a crash sends nothing twice: its key is the node execution's idempotency key.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema
from workbench.block.base import get_context
from workbench.block.context import RunContext
from workbench.errors import BlockError, InputError


class NotifyBlock(Block):
    """Sends the running user a notification."""

    id = "7ce4a760-806d-4a29-b453-b3800857cbf5"
    name = "Notify"
    description = (
        "Sends you a notification: to your in-app inbox, or by email, webhook, Slack or Discord, as "
        "you set up under Profile → Notifications. Quiet hours and your daily cap apply."
    )
    categories = (BlockCategory.OUTPUT, BlockCategory.COMMUNICATION)

    class Input(BlockSchema):
        title: str = Field(description="One line: a mail's subject, a chat message's heading.")
        message: str = Field(default="", description="The text (up to 10,000 characters).")
        channel: str = Field(
            default="",
            description="in_app, email, webhook, slack, discord, or the name of one of your channels; "
            "empty: where your preferences send messages of agents.",
        )

    class Output(BlockSchema):
        key: str = Field(description="The message's key (its delivery log entries carry it).")

    test_input = {"title": "Report ready", "message": "3 new items", "channel": "in_app"}
    test_output = [("key", "k1")]
    test_mock = {"_send": lambda context, title, message, channel: "k1"}

    def _send(self, context: RunContext, title: str, message: str, channel: str | None) -> str:
        """Hand the message to the notifier; its key."""
        service: Any = context.service("notifications")
        return service.notify(
            context.user_id,
            title,
            message,
            channel=channel,
            graph_id=context.graph_id,
            execution_id=context.graph_execution_id,
            key=context.idempotency_key,
        )

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        context = get_context(kwargs)
        try:
            key = self._send(
                context, input_data.title, input_data.message, input_data.channel.strip() or None
            )
        except InputError as exc:
            raise BlockError(str(exc)) from None
        yield "key", key
