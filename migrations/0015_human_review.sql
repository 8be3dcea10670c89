-- Human in the loop (workbench/services/reviews.py holds the rules): a node execution may wait for a
-- person to approve, reject or change data. It and its run are then in status REVIEW: not final, held
-- by no executor; a decision queues the run again, and the replayed node execution finds it here.
--
-- One review per node execution, found again on every replay by (execution, node, sequence number):
-- a replay keeps the sequence numbers, while a node execution's id is only reused when it was stored.
-- root_execution_id is the top-level run (the one queued again) when the node is inside a sub-graph run.
-- decision is what applies (a timeout applies default_decision); reviewed_data is the data passed on
-- (the reviewer's edit, else the data as asked). decided_via: api, link (a signed link), timeout.

ALTER TABLE graph_executions DROP CONSTRAINT graph_executions_status_check;
ALTER TABLE graph_executions ADD CONSTRAINT graph_executions_status_check
    CHECK (status IN ('QUEUED', 'RUNNING', 'REVIEW', 'COMPLETED', 'FAILED', 'CANCELLED'));
ALTER TABLE node_executions DROP CONSTRAINT node_executions_status_check;
ALTER TABLE node_executions ADD CONSTRAINT node_executions_status_check
    CHECK (status IN ('INCOMPLETE', 'QUEUED', 'RUNNING', 'REVIEW', 'COMPLETED', 'FAILED', 'CANCELLED'));

-- Safe mode (AutoGPT's per-execution switch): off, reviews are approved at once.
ALTER TABLE graph_executions ADD COLUMN safe_mode boolean NOT NULL DEFAULT true;

CREATE TABLE human_reviews (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    execution_id        uuid NOT NULL REFERENCES graph_executions (id) ON DELETE CASCADE,
    root_execution_id   uuid NOT NULL REFERENCES graph_executions (id) ON DELETE CASCADE,
    node_id             text NOT NULL,
    seq                 integer NOT NULL,
    node_execution_id   uuid NOT NULL,
    user_id             uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    graph_id            uuid NOT NULL,
    graph_version       integer NOT NULL,
    name                text NOT NULL DEFAULT '',
    data                jsonb NOT NULL DEFAULT 'null'::jsonb,
    editable            boolean NOT NULL DEFAULT true,
    status              text NOT NULL DEFAULT 'WAITING'
                        CHECK (status IN ('WAITING', 'APPROVED', 'REJECTED', 'TIMED_OUT')),
    default_decision    text NOT NULL DEFAULT 'reject' CHECK (default_decision IN ('approve', 'reject')),
    decision            text CHECK (decision IN ('approve', 'reject')),
    reviewed_data       jsonb,
    message             text,
    decided_by          uuid,
    decided_via         text,
    timeout_seconds     double precision NOT NULL DEFAULT 0 CHECK (timeout_seconds >= 0),
    created_at          timestamptz NOT NULL DEFAULT now(),
    decided_at          timestamptz,
    expires_at          timestamptz,
    CHECK ((status = 'WAITING') = (decision IS NULL)),
    UNIQUE (execution_id, node_id, seq)
);
CREATE INDEX human_reviews_user_idx ON human_reviews (user_id, created_at DESC, id DESC);
CREATE INDEX human_reviews_root_idx ON human_reviews (root_execution_id);
CREATE INDEX human_reviews_expiry_idx ON human_reviews (expires_at)
    WHERE status = 'WAITING' AND expires_at IS NOT NULL;

-- The sweep's second question: runs paused for a review that may have been answered meanwhile.
CREATE INDEX graph_executions_review_idx ON graph_executions (updated_at) WHERE status = 'REVIEW';
