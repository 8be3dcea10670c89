"""Human in the loop, in process on the test run's PostgreSQL: a run pauses in REVIEW (stored, held by
no executor; the other branches go on), a decision queues it again and the replay runs nothing that
had completed; approve (with edited data), reject, timeouts, safe mode, ownership, one decision only,
cancelling a waiting run, a pause inside a sub-graph run, runs that store nothing (they wait in memory)
and RabbitMQ (the distributed mode)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from blocks.agent import AgentExecutorBlock
from blocks.human import HumanInTheLoopBlock
from tests.engine.graphs import graph, inp, link, node, out
from tests.scheduler.conftest import new_user
from tests.support.blocks import COUNTS, CountingBlock, SleepBlock
from workbench.app import Workbench
from workbench.auth import LOCAL_USER_ID
from workbench.block.review import AUTO_APPROVED
from workbench.block.selftest import run_selftest
from workbench.errors import ConflictError, NotFoundError
from workbench.graph.model import Graph
from workbench.services.executions import ExecutionResult
from workbench.services.reviews import ReviewInputError
from workbench.store.reviews import ReviewRecord

USER = LOCAL_USER_ID
PROFILE = {"name": "John Doe", "age": 30}


def reviewed_graph(key: str, **review: Any) -> Graph:
    """x -> count (counts runs under ``key``) -> review -> approved / rejected / message outputs, and
    an independent branch x -> side (counts under ``key-side``) -> side output."""
    return graph(
        [
            inp("x", "x"),
            node("count", CountingBlock, key=key),
            node("review", HumanInTheLoopBlock, name="User profile data", **review),
            out("ok", "approved"),
            out("no", "rejected"),
            out("msg", "message"),
            node("side", CountingBlock, key=f"{key}-side"),
            out("side_out", "side"),
        ],
        [
            link("x.result", "count.value"),
            link("count.output", "review.data"),
            link("review.approved_data", "ok.value"),
            link("review.rejected_data", "no.value"),
            link("review.review_message", "msg.value"),
            link("x.result", "side.value"),
            link("side.output", "side_out.value"),
        ],
        name="profile check",
    )


async def until_review(bench: Workbench, execution_id: str, user_id: str = USER) -> ReviewRecord:
    """The review the run waits for, once the run shows REVIEW (30 s at most)."""
    deadline = time.monotonic() + 30
    while True:
        result = await bench.executions.get(execution_id, user_id)
        if str(result.status) == "REVIEW":
            items, _ = await bench.reviews.list(user_id, status="WAITING", execution_id=execution_id)
            assert len(items) == 1, items
            return items[0]
        assert not result.status.is_final, (result.status, result.error)
        assert time.monotonic() < deadline, f"no REVIEW after 30 s: {result.status}"
        await asyncio.sleep(0.02)


def by_node(result: ExecutionResult) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for n in result.node_executions:
        found.setdefault(n.node_id, []).append(str(n.status))
    return found


async def stored_counts(bench: Workbench, execution_id: str) -> dict[str, int]:
    """Stored node executions per node of a run."""
    assert bench.db is not None
    rows = await bench.db.pool.fetch(
        "SELECT node_id, count(*)::int AS n FROM node_executions WHERE graph_execution_id = $1 GROUP BY node_id",
        execution_id,
    )
    return {r["node_id"]: r["n"] for r in rows}


async def test_the_autogpt_vector_holds() -> None:
    block = HumanInTheLoopBlock()
    assert block.test_input == {
        "data": {"name": "John Doe", "age": 30},
        "name": "User profile data",
        "editable": True,
    }
    assert block.test_output == [("approved_data", {"name": "John Doe", "age": 30})]
    assert await run_selftest(block) == []
    assert block.categories == ("BASIC",)
    schema = block.describe()["input_schema"]["properties"]
    assert schema["editable"]["advanced"] is True and schema["editable"]["default"] is True
    assert schema["timeout_seconds"]["advanced"] is True


async def test_a_run_pauses_then_an_approval_with_edited_data_completes_it_running_nothing_twice(
    wb: Workbench,
) -> None:
    key = f"hitl-{uuid.uuid4().hex[:8]}"
    execution_id = await wb.executions.submit(reviewed_graph(key), {"x": PROFILE})
    review = await until_review(wb, execution_id)

    # Paused: stored REVIEW, the other branch done, nothing of the run held or ended.
    paused = await wb.executions.get(execution_id)
    assert str(paused.status) == "REVIEW" and paused.ended_at is None
    nodes = by_node(paused)
    assert nodes["review"] == ["REVIEW"] and nodes["count"] == ["COMPLETED"]
    assert nodes["side_out"] == ["COMPLETED"]
    assert paused.outputs == {"side": [PROFILE]}
    assert execution_id not in wb.executions.live  # no executor holds it
    assert (
        await wb.db.pool.fetchval(  # type: ignore[union-attr]
            "SELECT executor_key FROM graph_executions WHERE id = $1", execution_id
        )
        is not None
    )  # the key of the last attempt; free once the run is queued again
    assert review.name == "User profile data" and review.data == PROFILE and review.editable
    assert review.run_status == "REVIEW" and review.node_id == "review" and review.status == "WAITING"
    with pytest.raises(TimeoutError):  # waiting for a run in REVIEW waits for its end
        await wb.executions.wait(execution_id, timeout=0.2)

    edited = {"name": "Jane Doe", "age": 31}
    decided = await wb.reviews.decide(review.id, USER, "approve", data=edited, message="corrected the name")
    assert decided.status == "APPROVED" and decided.reviewed_data == edited and decided.decided_by == USER

    result = await wb.executions.wait(execution_id, timeout=30)
    assert str(result.status) == "COMPLETED", result.error
    assert result.outputs == {"side": [PROFILE], "approved": [edited], "message": ["corrected the name"]}
    assert COUNTS[key] == 1 and COUNTS[f"{key}-side"] == 1  # nothing before the pause ran again
    assert all(n == 1 for n in (await stored_counts(wb, execution_id)).values())
    assert by_node(result)["review"] == ["COMPLETED"]

    with pytest.raises(ConflictError, match="approved already"):
        await wb.reviews.decide(review.id, USER, "reject")
    waiting, _ = await wb.reviews.list(USER, status="WAITING", execution_id=execution_id)
    assert waiting == []
    everything, total = await wb.reviews.list(USER, execution_id=execution_id)
    assert total == 1 and everything[0].status == "APPROVED"


async def test_a_rejection_sends_the_data_as_it_came_on_rejected_data(wb: Workbench) -> None:
    key = f"hitl-{uuid.uuid4().hex[:8]}"
    execution_id = await wb.executions.submit(reviewed_graph(key), {"x": PROFILE})
    review = await until_review(wb, execution_id)
    await wb.reviews.decide(review.id, USER, "reject", message="not this one")
    result = await wb.executions.wait(execution_id, timeout=30)
    assert str(result.status) == "COMPLETED", result.error
    assert result.outputs == {"side": [PROFILE], "rejected": [PROFILE], "message": ["not this one"]}
    assert COUNTS[key] == 1


async def test_only_the_owner_decides_and_only_editable_data_changes(wb: Workbench) -> None:
    key = f"hitl-{uuid.uuid4().hex[:8]}"
    execution_id = await wb.executions.submit(reviewed_graph(key, editable=False), {"x": PROFILE})
    review = await until_review(wb, execution_id)
    stranger = await new_user(wb)
    with pytest.raises(NotFoundError):
        await wb.reviews.get(review.id, stranger)
    with pytest.raises(NotFoundError):
        await wb.reviews.decide(review.id, stranger, "approve")
    assert (await wb.reviews.list(stranger, status="WAITING"))[0] == []
    with pytest.raises(ReviewInputError) as refused:
        await wb.reviews.decide(review.id, USER, "approve", data={"name": "x"})
    assert [field for field, _ in refused.value.problems] == ["data"]
    assert "not editable" in str(refused.value)
    with pytest.raises(ReviewInputError) as refused:
        await wb.reviews.decide(review.id, USER, "maybe")
    assert [field for field, _ in refused.value.problems] == ["decision"]
    # Nothing was decided by the refusals: the owner still can.
    await wb.reviews.decide(review.id, USER, "approve")
    result = await wb.executions.wait(execution_id, timeout=30)
    assert result.outputs["approved"] == [PROFILE] and "message" not in result.outputs


async def test_data_changes_only_with_an_approval(wb: Workbench) -> None:
    execution_id = await wb.executions.submit(reviewed_graph(f"hitl-{uuid.uuid4().hex[:8]}"), {"x": 1})
    review = await until_review(wb, execution_id)
    with pytest.raises(ReviewInputError, match="only an approval"):
        await wb.reviews.decide(review.id, USER, "reject", data=2)
    await wb.reviews.decide(review.id, USER, "approve", data=None)  # null is a value like any other
    result = await wb.executions.wait(execution_id, timeout=30)
    assert result.outputs["approved"] == [None]


async def test_a_timeout_applies_the_default_decision(wb: Workbench) -> None:
    key = f"hitl-{uuid.uuid4().hex[:8]}"
    g = reviewed_graph(key, timeout_seconds=0.3, default_decision="approve")
    execution_id = await wb.executions.submit(g, {"x": PROFILE})
    review = await until_review(wb, execution_id)
    assert review.expires_at is not None and review.default_decision == "approve"
    deadline = time.monotonic() + 30
    while (await wb.reviews.get(review.id, USER)).status == "WAITING":
        await wb.reviews.sweep()  # the background sweep does it too, every 2 s here
        assert time.monotonic() < deadline, "the timeout was never applied"
        await asyncio.sleep(0.05)
    result = await wb.executions.wait(execution_id, timeout=30)
    assert str(result.status) == "COMPLETED", result.error
    assert result.outputs["approved"] == [PROFILE]
    assert result.outputs["message"] == ["timed out after 0.3 s: approved by default"]
    timed_out = await wb.reviews.get(review.id, USER)
    assert timed_out.status == "TIMED_OUT" and timed_out.decision == "approve"
    assert timed_out.decided_via == "timeout"
    with pytest.raises(ConflictError, match="timed out"):
        await wb.reviews.decide(review.id, USER, "reject")
    assert COUNTS[key] == 1


async def test_the_background_sweep_applies_a_timeout_by_itself(wb: Workbench) -> None:
    g = reviewed_graph(f"hitl-{uuid.uuid4().hex[:8]}", timeout_seconds=0.2)  # default: reject
    execution_id = await wb.executions.submit(g, {"x": "late"})
    await until_review(wb, execution_id)
    result = await wb.executions.wait(execution_id, timeout=30)  # the sweep runs every 2 s here
    assert result.outputs["rejected"] == ["late"]
    assert result.outputs["message"] == ["timed out after 0.2 s: rejected by default"]


async def test_a_decision_whose_queuing_was_lost_is_found_by_the_sweep(wb: Workbench) -> None:
    execution_id = await wb.executions.submit(reviewed_graph(f"hitl-{uuid.uuid4().hex[:8]}"), {"x": 5})
    review = await until_review(wb, execution_id)
    assert wb.reviews.repo is not None
    await wb.reviews.stop()  # no background sweep meanwhile: this test sweeps itself
    try:
        # Stored, but the process "died" before queuing the run again.
        assert await wb.reviews.repo.decide(
            review.id,
            decision="approve",
            data_given=False,
            data=None,
            message=None,
            decided_by=USER,
            via="api",
        )
        assert str((await wb.executions.get(execution_id)).status) == "REVIEW"
        assert await wb.reviews.sweep() >= 1
    finally:
        wb.reviews.start_sweeping()
    result = await wb.executions.wait(execution_id, timeout=30)
    assert result.outputs["approved"] == [5]


async def test_a_decision_given_while_other_branches_still_run_is_taken_when_the_run_pauses(
    wb: Workbench,
) -> None:
    g = graph(
        [
            inp("x", "x"),
            node("review", HumanInTheLoopBlock, name="early"),
            node("slow", SleepBlock, seconds=1.0),
            out("ok", "approved"),
            out("slow_out", "slow"),
        ],
        [
            link("x.result", "review.data"),
            link("x.result", "slow.value"),
            link("review.approved_data", "ok.value"),
            link("slow.output", "slow_out.value"),
        ],
    )
    execution_id = await wb.executions.submit(g, {"x": "now"})
    deadline = time.monotonic() + 30
    while not (items := (await wb.reviews.list(USER, status="WAITING", execution_id=execution_id))[0]):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    assert str((await wb.executions.get(execution_id)).status) == "RUNNING"  # the slow branch goes on
    await wb.reviews.decide(items[0].id, USER, "approve")
    result = await wb.executions.wait(execution_id, timeout=30)
    assert str(result.status) == "COMPLETED", result.error
    assert result.outputs == {"approved": ["now"], "slow": ["now"]}


async def test_without_safe_mode_the_block_approves_at_once(wb: Workbench) -> None:
    key = f"hitl-{uuid.uuid4().hex[:8]}"
    result = await wb.executions.run(reviewed_graph(key), {"x": PROFILE}, safe_mode=False, timeout=30)
    assert str(result.status) == "COMPLETED", result.error
    assert result.outputs["approved"] == [PROFILE]
    assert result.outputs["message"] == [AUTO_APPROVED]
    assert (await wb.reviews.list(USER, execution_id=result.execution_id))[1] == 0


async def test_cancelling_a_waiting_run_ends_it_and_its_review(wb: Workbench) -> None:
    execution_id = await wb.executions.submit(reviewed_graph(f"hitl-{uuid.uuid4().hex[:8]}"), {"x": 1})
    review = await until_review(wb, execution_id)
    assert await wb.executions.cancel(execution_id) == "CANCELLED"
    result = await wb.executions.get(execution_id)
    assert str(result.status) == "CANCELLED" and by_node(result)["review"] == ["CANCELLED"]
    assert (await wb.reviews.list(USER, status="WAITING", execution_id=execution_id))[0] == []
    with pytest.raises(ConflictError, match="its run is cancelled"):
        await wb.reviews.decide(review.id, USER, "approve")
    await wb.executions.delete(execution_id)  # ended: it may go, reviews with it


async def test_a_waiting_run_is_not_deleted_nor_its_graph(wb: Workbench) -> None:
    g = reviewed_graph(f"hitl-{uuid.uuid4().hex[:8]}")
    execution_id = await wb.executions.submit(g, {"x": 1})
    review = await until_review(wb, execution_id)
    with pytest.raises(ConflictError, match="REVIEW"):
        await wb.executions.delete(execution_id)
    with pytest.raises(ConflictError, match="waiting"):
        await wb.graphs.delete(g.id, USER)
    await wb.reviews.decide(review.id, USER, "approve")
    await wb.executions.wait(execution_id, timeout=30)


async def test_the_executions_list_filters_on_review(wb: Workbench) -> None:
    execution_id = await wb.executions.submit(reviewed_graph(f"hitl-{uuid.uuid4().hex[:8]}"), {"x": 1})
    review = await until_review(wb, execution_id)
    records, _ = await wb.executions.list(USER, status="REVIEW", limit=500)
    assert execution_id in {r.id for r in records}
    await wb.reviews.decide(review.id, USER, "reject")
    await wb.executions.wait(execution_id, timeout=30)


async def test_a_pause_inside_a_sub_graph_run_pauses_its_parent_and_resumes_both(wb: Workbench) -> None:
    key = f"hitl-{uuid.uuid4().hex[:8]}"
    child = graph(
        [
            inp("v", "v"),
            node("count", CountingBlock, key=key),
            node("review", HumanInTheLoopBlock, name="inner"),
            out("o", "checked"),
        ],
        [
            link("v.result", "count.value"),
            link("count.output", "review.data"),
            link("review.approved_data", "o.value"),
        ],
        name="child with a review",
    )
    parent = graph(
        [
            inp("x", "x"),
            node("agent", AgentExecutorBlock, graph_id=child.id, graph_version=child.version, inputs={}),
            out("o", "result"),
        ],
        [link("x.result", "agent.inputs_#_v"), link("agent.checked", "o.value")],
        name="parent of a review",
    )
    parent.sub_graphs = [child]
    execution_id = await wb.executions.submit(parent, {"x": "deep"})
    review = await until_review(wb, execution_id)
    assert review.root_execution_id == execution_id and review.execution_id != execution_id
    assert by_node(await wb.executions.get(execution_id))["agent"] == ["REVIEW"]
    await wb.reviews.decide(review.id, USER, "approve", data="deeper")
    result = await wb.executions.wait(execution_id, timeout=30)
    assert str(result.status) == "COMPLETED", result.error
    assert result.outputs == {"result": ["deeper"]}
    assert COUNTS[key] == 1  # the child's node before the pause ran once
    assert all(n == 1 for n in (await stored_counts(wb, review.execution_id)).values())


async def test_a_run_that_stores_nothing_waits_in_memory(ewb: Workbench) -> None:
    g = reviewed_graph(f"hitl-{uuid.uuid4().hex[:8]}")
    execution_id = await ewb.executions.submit(g, {"x": PROFILE})
    deadline = time.monotonic() + 30
    while not (items := (await ewb.reviews.list(USER, status="WAITING", execution_id=execution_id))[0]):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    review = items[0]
    live = await ewb.executions.get(execution_id)
    assert by_node(live)["review"] == ["REVIEW"] and str(live.status) == "RUNNING"
    with pytest.raises(NotFoundError):
        await ewb.reviews.get(review.id, str(uuid.uuid4()))
    with pytest.raises(ReviewInputError):  # the same rules as a stored review
        await ewb.reviews.decide(review.id, USER, "reject", data=1)
    decided = await ewb.reviews.decide(review.id, USER, "approve", data={"ok": True}, message="fine")
    assert decided.status == "APPROVED"
    result = await ewb.executions.wait(execution_id, timeout=30)
    assert str(result.status) == "COMPLETED", result.error
    assert result.outputs["approved"] == [{"ok": True}] and result.outputs["message"] == ["fine"]
    assert (await ewb.reviews.get(review.id, USER)).status == "APPROVED"
    with pytest.raises(ConflictError):
        await ewb.reviews.decide(review.id, USER, "approve")


async def test_a_wait_in_memory_times_out_to_its_default(ewb: Workbench) -> None:
    g = reviewed_graph(f"hitl-{uuid.uuid4().hex[:8]}", timeout_seconds=0.05, default_decision="approve")
    result = await ewb.executions.run(g, {"x": 7}, timeout=30)
    assert result.outputs["approved"] == [7]
    assert result.outputs["message"] == ["timed out after 0.05 s: approved by default"]


@pytest.mark.slow
async def test_distributed_the_decision_goes_through_rabbitmq(dwb: Workbench) -> None:
    key = f"hitl-{uuid.uuid4().hex[:8]}"
    execution_id = await dwb.executions.submit(reviewed_graph(key), {"x": PROFILE})
    review = await until_review(dwb, execution_id)
    assert dwb.db is not None
    owner = await dwb.db.pool.fetchval(
        "SELECT executor_key FROM graph_executions WHERE id = $1", execution_id
    )
    assert owner is not None
    await dwb.reviews.decide(review.id, USER, "approve")
    result = await dwb.executions.wait(execution_id, timeout=30)
    assert str(result.status) == "COMPLETED", result.error
    assert result.outputs["approved"] == [PROFILE]
    assert COUNTS[key] == 1
