"""Runs a graph in its own process, for crash tests: `start GRAPH.json INPUTS_JSON`, `resume`, or
`executor` (consume the queue of AMQP_URL until killed).

Prints one JSON line per event of interest on stdout, flushing each.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support import process_blocks
from workbench.app import Workbench
from workbench.block.registry import default_registry
from workbench.graph.autogpt import load_graph_file


def say(**doc: object) -> None:
    print(json.dumps(doc), flush=True)


async def main(argv: list[str]) -> int:
    registry = default_registry().copy()
    registry.register_module(process_blocks, "tests.support.process_blocks")
    if argv[0] == "executor":  # consume the queue (AMQP_URL) until killed
        stop = asyncio.Event()  # SIGTERM: leave like `workbench executor` does (hand back, release)
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        async with Workbench(registry=registry, consume=True):
            say(ready=True)
            await stop.wait()
        return 0
    async with Workbench(registry=registry, resume=False) as wb:
        if argv[0] == "start":
            graph = load_graph_file(argv[1])
            execution_id = await wb.executions.submit(graph, json.loads(argv[2]))
            say(started=execution_id)
            result = await wb.executions.wait(execution_id)
            say(finished=execution_id, status=str(result.status), outputs=result.outputs)
        else:
            ids = await wb.executions.resume_interrupted()
            say(resumed=ids)
            for execution_id in ids:
                result = await wb.executions.wait(execution_id, timeout=60)
                say(finished=execution_id, status=str(result.status), outputs=result.outputs)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
