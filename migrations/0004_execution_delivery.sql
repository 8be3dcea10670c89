-- Delivery bookkeeping for the distributed queue: how often executors took a run (a message that
-- keeps failing is given up after a bound), and whether its queue message was published.

ALTER TABLE graph_executions
    ADD COLUMN attempts      integer NOT NULL DEFAULT 0,
    ADD COLUMN published_at  timestamptz DEFAULT now();

CREATE INDEX graph_executions_unpublished_idx ON graph_executions (created_at)
    WHERE status = 'QUEUED' AND published_at IS NULL;
