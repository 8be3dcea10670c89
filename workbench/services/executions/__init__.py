"""Runs of graphs: the service front doors call, and the parts it is made of.

- :mod:`.service`: :class:`ExecutionService`, what the API, clients, CLI, notebook and pages call
  (submit = store, then queue; ephemeral runs start here storing nothing; the rules about runs);
- :mod:`.worker`: claim, run, settle a stored run for a queue delivery; the sweeper of lost messages;
- :mod:`.live`: the registry of runs going on in this process;
- :mod:`.readmodel`: a run's state, waiting for it, following its events, live or from storage;
- :mod:`.subgraphs`: child runs started by a node, within the depth and count limits;
- :mod:`.results`: :class:`ExecutionResult` and :class:`NodeExecution`, what callers get back;
- :mod:`.one_block`: running one block outside a graph.
"""

from workbench.services.executions.one_block import BlockRun
from workbench.services.executions.results import ExecutionResult, NodeExecution
from workbench.services.executions.service import ExecutionService, check_inputs
from workbench.services.executions.subgraphs import SubgraphLimitExceeded
from workbench.services.executions.worker import EXECUTOR_LOCK_CLASS, MAX_ATTEMPTS

__all__ = [
    "EXECUTOR_LOCK_CLASS",
    "MAX_ATTEMPTS",
    "BlockRun",
    "ExecutionResult",
    "ExecutionService",
    "NodeExecution",
    "SubgraphLimitExceeded",
    "check_inputs",
]
