"""Human reviews from the client, on both transports: a run waits in REVIEW, its review is listed,
read and answered the same way (same types, same errors), and ``run`` waits through the pause."""

from __future__ import annotations

import asyncio
import time

import pytest

from workbench.client import LocalClient, RemoteClient, ReviewInfo
from workbench.client.base import AsyncClient
from workbench.errors import ConflictError, InputError
from workbench.graph.builder import GraphBuilder


def reviewed(graph_id: str) -> GraphBuilder:
    """order -> review -> approved / rejected / message."""
    g = GraphBuilder("Reviewed order", graph_id=graph_id)
    order = g.input("order")
    review = g.add("HumanInTheLoopBlock", name="Order")
    order.result >> review.data
    review.approved_data >> g.output("approved").value
    review.rejected_data >> g.output("rejected").value
    review.review_message >> g.output("message").value
    return g


async def until_waiting(client: AsyncClient, execution_id: str) -> ReviewInfo:
    deadline = time.monotonic() + 30
    while True:
        found = await client.reviews(execution_id)
        if found and (await client.execution(execution_id)).status == "REVIEW":
            return found[0]
        assert time.monotonic() < deadline, "the run never waited for its review"
        await asyncio.sleep(0.05)


async def test_reviews_on_both_transports(clients: tuple[LocalClient, RemoteClient]) -> None:
    local, remote = clients
    for client, graph_id in (
        (local, "5d1c9a52-1f7e-4a38-9b53-8d7f4c1e2a11"),
        (remote, "5d1c9a52-1f7e-4a38-9b53-8d7f4c1e2a12"),
    ):
        execution_id = await client.submit(reviewed(graph_id), {"order": {"qty": 3}})
        review = await until_waiting(client, execution_id)
        assert isinstance(review, ReviewInfo) and review.waiting
        assert (review.name, review.data, review.status, review.editable) == (
            "Order",
            {"qty": 3},
            "WAITING",
            True,
        )
        assert review.execution_id == execution_id and review.node_id
        assert review.id in {r.id for r in await client.reviews()}
        one = await client.review(review.id)
        assert one.id == review.id
        assert (one.link is not None) == (client is remote)  # a link is a server's

        with pytest.raises(InputError, match="data"):
            await client.decide_review(review.id, "reject", data={"qty": 1})
        decided = await client.approve_review(review.id, data={"qty": 2}, message="two")
        assert decided.status == "APPROVED" and decided.reviewed_data == {"qty": 2}
        result = await client.wait(execution_id, timeout=30)
        assert result.ok, result.error
        assert result.outputs == {"approved": [{"qty": 2}], "message": ["two"]}
        with pytest.raises(ConflictError):
            await client.reject_review(review.id)
        assert await client.reviews(execution_id) == []  # none waits any more
        assert [r.status for r in await client.reviews(execution_id, status=None)] == ["APPROVED"]

        quick = await client.run(reviewed(graph_id), {"order": "x"}, safe_mode=False, timeout=30)
        assert quick.outputs == {"approved": ["x"], "message": ["auto-approved: safe mode is off"]}
