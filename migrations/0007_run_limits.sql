-- Sub-graph runs of one execution are bounded (issue 10): subgraph_runs counts the sub-graph runs
-- (agent executor blocks, at every depth) a top-level execution has started. Each child takes one
-- atomic, capped increment before it is created, so the cap (WORKBENCH_MAX_CHILD_RUNS) holds across
-- executors and across a resume after a crash.
ALTER TABLE graph_executions
    ADD COLUMN subgraph_runs integer NOT NULL DEFAULT 0;
