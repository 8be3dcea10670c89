"""Human in the loop: a block that pauses its run until a person approves, rejects or changes data.

AutoGPT's ``HumanInTheLoopBlock`` (same id, pins and outputs): the decision picks the pin that fires,
``approved_data`` (the data, possibly edited by the reviewer) or ``rejected_data`` (the data as it
came); ``review_message`` fires only when there is a message. Ours adds a timeout with a default
decision. How the run waits (REVIEW, resumed by the answer on any executor) is the platform's:
:meth:`workbench.block.context.RunContext.review` and ``workbench.services.reviews``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema, BlockType
from workbench.block.base import get_context
from workbench.block.context import RunContext
from workbench.block.review import ReviewAnswer

_ADVANCED = {"advanced": True}


class HumanInTheLoopBlock(Block):
    """Waits for a person to approve, reject or edit ``data``; routes it by their decision."""

    id = "8b2a7b3c-6e9d-4a5f-8c1b-2e3f4a5b6c7d"
    name = "HumanInTheLoopBlock"
    description = (
        "Pauses the run until a person reviews the data: approved (possibly edited) data goes out on "
        "`approved_data`, rejected data on `rejected_data`, and the reviewer's message, if any, on "
        "`review_message`. Without an answer within `timeout_seconds` (0: wait for ever), "
        "`default_decision` applies. Runs without safe mode approve at once."
    )
    categories = (BlockCategory.BASIC,)
    block_type = BlockType.HUMAN_IN_THE_LOOP
    timeout = 30 * 24 * 3600.0
    """A run that stores nothing waits in the node for the answer: let it wait (30 days at most)."""

    class Input(BlockSchema):
        data: Any = Field(description="The data a person reviews (and may edit when `editable`).")
        name: str = Field(description="What the data is, shown to the reviewer.")
        editable: bool = Field(
            default=True,
            description="Whether the reviewer may change the data before approving it.",
            json_schema_extra=_ADVANCED,
        )
        timeout_seconds: float = Field(
            default=0,
            ge=0,
            description="Seconds to wait for an answer; then `default_decision` applies (0: wait for ever).",
            json_schema_extra=_ADVANCED,
        )
        default_decision: Literal["approve", "reject"] = Field(
            default="reject",
            description="The decision applied when `timeout_seconds` pass without an answer.",
            json_schema_extra=_ADVANCED,
        )

    class Output(BlockSchema):
        approved_data: Any = Field(description="The data, as the reviewer left it, when approved.")
        rejected_data: Any = Field(description="The data, as it came, when rejected.")
        review_message: str = Field(description="The reviewer's message (only when there is one).")

    test_input = {"data": {"name": "John Doe", "age": 30}, "name": "User profile data", "editable": True}
    test_output = [("approved_data", {"name": "John Doe", "age": 30})]

    test_mock = {
        "_decide": lambda context, question, **kw: ReviewAnswer(approved=True, data=question["data"])
    }

    async def _decide(self, context: RunContext, question: dict[str, Any]) -> ReviewAnswer:
        """The person's answer (the platform pauses the run until there is one)."""
        return await context.review(
            question["name"],
            question["data"],
            editable=question["editable"],
            timeout_seconds=question["timeout_seconds"],
            default_decision=question["default_decision"],
        )

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        context = get_context(kwargs)
        answer = await self._decide(
            context,
            {
                "name": input_data.name,
                "data": input_data.data,
                "editable": input_data.editable,
                "timeout_seconds": input_data.timeout_seconds,
                "default_decision": input_data.default_decision,
            },
        )
        if answer.approved:
            yield "approved_data", answer.data
        else:
            yield "rejected_data", answer.data
        if answer.message:
            yield "review_message", answer.message
