-- Indexes for the Monitor (workbench/store/monitor.py): a user's runs, newest first, page by page
-- (keyset paging on (created_at, id)), filtered by agent or status, and the dashboards' aggregates.
--
-- The executions table lists top-level runs only (sub-graph runs show inside their parent), so the
-- paging indexes are partial on parent_execution_id IS NULL and end with id, the keyset's tie-breaker.
-- graph_executions_user_created_idx (0001) stays: the dashboards count sub-graph runs too.

CREATE INDEX graph_executions_user_top_idx
    ON graph_executions (user_id, created_at DESC, id DESC)
    WHERE parent_execution_id IS NULL;

CREATE INDEX graph_executions_user_graph_top_idx
    ON graph_executions (user_id, graph_id, created_at DESC, id DESC)
    WHERE parent_execution_id IS NULL;

CREATE INDEX graph_executions_user_status_top_idx
    ON graph_executions (user_id, status, created_at DESC, id DESC)
    WHERE parent_execution_id IS NULL;

-- Per-block duration percentiles read every node execution of the user's runs in a time window:
-- carrying block, status and timings in the index lets PostgreSQL answer from the index alone
-- (index-only scan) instead of visiting the wide heap rows (inputs and outputs are jsonb).
CREATE INDEX node_executions_timing_idx
    ON node_executions (graph_execution_id)
    INCLUDE (block_id, status, started_at, ended_at);
