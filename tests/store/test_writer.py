"""The write-behind: one execution that cannot be written must not block the others."""

from __future__ import annotations

import asyncio

from tests.engine.graphs import graph, inp, link, node, out
from tests.support.blocks import SleepBlock


async def test_execution_deleted_while_running_does_not_poison_writes(wb) -> None:
    slow = graph(
        [inp("in", "x"), node("s", SleepBlock, seconds=0.6), out("o", "y")],
        [link("in.result", "s.value"), link("s.output", "o.value")],
    )
    execution_id = await wb.executions.submit(slow, {"x": 1})
    await asyncio.sleep(0.2)  # the sleep node is RUNNING and its row is written
    await wb.db.pool.execute("DELETE FROM graph_executions WHERE id = $1", execution_id)

    quick = graph([inp("in", "x"), out("o", "y")], [link("in.result", "o.value")])
    results = [await wb.executions.run(quick, {"x": i}) for i in range(3)]
    await asyncio.sleep(0.7)  # the deleted run's node finishes and is flushed (and dropped)
    later = await wb.executions.run(quick, {"x": 99})

    for i, result in enumerate(results):
        stored = await wb.executions.repo.get(result.execution_id, None)
        assert stored is not None and stored.status == "COMPLETED" and stored.outputs == {"y": [i]}
    stored = await wb.executions.repo.get(later.execution_id, None)
    assert stored is not None and stored.status == "COMPLETED"
    assert await wb.db.pool.fetchval("SELECT count(*) FROM graph_executions WHERE id = $1", execution_id) == 0
    assert wb.writer._nodes == {} and wb.writer._runs == {}  # nothing stuck waiting to be retried
