-- Retention of execution data (issue 16; workbench/services/dbmanager/retention.py holds the rules).
--
-- The server's policy is in the settings (WORKBENCH_RETENTION_DAYS, WORKBENCH_RETENTION_PER_AGENT);
-- a user may set a stricter one of their own here: days keeps runs younger than that many days,
-- per_agent keeps that many newest runs of each agent. NULL follows the server's setting; the
-- stricter of the two applies (LEAST, which ignores NULLs). No row: the server's policy.
CREATE TABLE retention_settings (
    user_id     uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    days        integer CHECK (days IS NULL OR days >= 1),
    per_agent   integer CHECK (per_agent IS NULL OR per_agent >= 1),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Deleting a run cascades to its sub-graph runs (parent_execution_id ON DELETE CASCADE), and pruning
-- walks a run's tree down the same column: both look runs up by parent. Without an index each
-- deleted run cost a scan of the whole table. Partial: top-level runs (most rows) have no parent.
CREATE INDEX graph_executions_parent_execution_idx ON graph_executions (parent_execution_id)
    WHERE parent_execution_id IS NOT NULL;

-- What refers to a run and outlives it: chat messages (chat_messages.execution_id), files
-- (files.graph_execution_id), notifications, schedule fires and triggers keep the run's id without
-- a foreign key, so pruning a run leaves them as they are; knowledge documents do not refer to runs.
-- Human reviews (human_reviews) and node executions belong to their run and go with it.
