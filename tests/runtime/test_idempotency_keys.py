"""Every node execution has its own idempotency key, derived from the run, the node and its sequence
number; the HTTP request block sends it on requests with effects."""

from __future__ import annotations

from typing import Any

from blocks.logic import StepThroughItemsBlock
from blocks.web import SendWebRequestBlock
from tests.engine.graphs import graph, inp, link, node, out
from tests.support.http_receiver import receiving
from workbench.app import Workbench
from workbench.block.context import RunContext
from workbench.net.client import with_idempotency_key


def _posting(url: str, **request: Any) -> Any:
    """items -> one request per item -> outputs ``reply``."""
    return graph(
        [
            inp("items", "items"),
            node("step", StepThroughItemsBlock),
            node("call", SendWebRequestBlock, url=url, **request),
            out("reply", "reply"),
        ],
        [
            link("items.result", "step.items"),
            link("step.item", "call.body"),
            link("call.response", "reply.value"),
        ],
    )


async def test_each_node_execution_sends_its_own_key_derived_from_run_node_and_seq(ewb: Workbench) -> None:
    ewb.executions.settings = ewb.executions.settings.with_(http_allow=("127.0.0.1",))
    with receiving() as receiver:
        result = await ewb.executions.run(_posting(receiver.url, method="POST"), {"items": [1, 2, 3]})
    assert result.status == "COMPLETED", result.error
    expected = {RunContext.idempotency_key_for(result.execution_id, "call", seq) for seq in range(3)}
    assert len(receiver.keys) == 3
    assert set(receiver.keys) == expected  # three different keys, each from (run, node, seq)


async def test_reads_carry_no_key_and_a_key_the_graph_sets_wins(ewb: Workbench) -> None:
    ewb.executions.settings = ewb.executions.settings.with_(http_allow=("127.0.0.1",))
    with receiving() as receiver:
        read = await ewb.executions.run(_posting(receiver.url, method="GET"), {"items": [1]})
        own = await ewb.executions.run(
            _posting(receiver.url, method="PUT", headers={"idempotency-key": "order-7"}), {"items": [1]}
        )
    assert read.status == own.status == "COMPLETED"
    assert receiver.requests == [("GET", None), ("PUT", "order-7")]


def test_the_key_outside_a_graph_run_is_random_but_stable() -> None:
    context = RunContext.for_test()
    assert context.idempotency_key == context.idempotency_key
    assert RunContext.for_test().idempotency_key != context.idempotency_key


def test_with_idempotency_key_adds_the_header_only_to_requests_with_effects() -> None:
    assert with_idempotency_key("POST", None, "k") == {"Idempotency-Key": "k"}
    assert with_idempotency_key("delete", {"a": "b"}, "k") == {"a": "b", "Idempotency-Key": "k"}
    assert with_idempotency_key("GET", {"a": "b"}, "k") == {"a": "b"}
    assert with_idempotency_key("POST", {"IDEMPOTENCY-KEY": "mine"}, "k") == {"IDEMPOTENCY-KEY": "mine"}
    assert with_idempotency_key("POST", None, None) is None
