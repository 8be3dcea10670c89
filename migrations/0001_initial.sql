-- The seed's schema: users, versioned graphs with nodes and links, the block catalogue,
-- graph and node executions (with inputs and outputs), credentials and schedules.

CREATE EXTENSION IF NOT EXISTS vector;

-- pg_trgm powers fuzzy search by name. The embedded PostgreSQL (pgserver) ships without contrib
-- modules, so it is created only where the server has it; searches fall back to ILIKE without it.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
    END IF;
END
$$;

-- UUIDs come from gen_random_uuid(), built into PostgreSQL since version 13.

CREATE TABLE users (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email       text NOT NULL UNIQUE,
    name        text,
    timezone    text NOT NULL DEFAULT 'UTC',
    metadata    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The single user of the local (no-login) mode.
INSERT INTO users (id, email, name) VALUES
    ('00000000-0000-0000-0000-000000000001', 'local@localhost', 'Local user');

CREATE TABLE blocks (
    id             text PRIMARY KEY,
    name           text NOT NULL,
    description    text NOT NULL DEFAULT '',
    categories     text[] NOT NULL DEFAULT '{}',
    block_type     text NOT NULL DEFAULT 'STANDARD',
    input_schema   jsonb NOT NULL DEFAULT '{}'::jsonb,
    output_schema  jsonb NOT NULL DEFAULT '{}'::jsonb,
    source         text NOT NULL DEFAULT '',
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE graphs (
    id           uuid NOT NULL,
    version      integer NOT NULL CHECK (version >= 1),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL,
    description  text NOT NULL DEFAULT '',
    is_active    boolean NOT NULL DEFAULT true,
    is_template  boolean NOT NULL DEFAULT false,
    input_schema   jsonb NOT NULL DEFAULT '{}'::jsonb,
    output_schema  jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, version)
);
CREATE INDEX graphs_user_idx ON graphs (user_id);
CREATE UNIQUE INDEX graphs_one_active_idx ON graphs (id) WHERE is_active;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX graphs_name_trgm_idx ON graphs USING gin (name gin_trgm_ops);
    END IF;
END
$$;

CREATE TABLE graph_nodes (
    graph_id       uuid NOT NULL,
    graph_version  integer NOT NULL,
    id             text NOT NULL,
    position       integer NOT NULL,
    block_id       text NOT NULL,
    input_default  jsonb NOT NULL DEFAULT '{}'::jsonb,
    metadata       jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (graph_id, graph_version, id),
    FOREIGN KEY (graph_id, graph_version) REFERENCES graphs (id, version) ON DELETE CASCADE
);
CREATE INDEX graph_nodes_block_idx ON graph_nodes (block_id);

CREATE TABLE graph_links (
    graph_id       uuid NOT NULL,
    graph_version  integer NOT NULL,
    id             text NOT NULL,
    position       integer NOT NULL,
    source_id      text NOT NULL,
    sink_id        text NOT NULL,
    source_name    text NOT NULL,
    sink_name      text NOT NULL,
    is_static      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (graph_id, graph_version, id),
    FOREIGN KEY (graph_id, graph_version) REFERENCES graphs (id, version) ON DELETE CASCADE,
    FOREIGN KEY (graph_id, graph_version, source_id) REFERENCES graph_nodes (graph_id, graph_version, id) ON DELETE CASCADE,
    FOREIGN KEY (graph_id, graph_version, sink_id) REFERENCES graph_nodes (graph_id, graph_version, id) ON DELETE CASCADE
);
CREATE INDEX graph_links_source_idx ON graph_links (graph_id, graph_version, source_id);
CREATE INDEX graph_links_sink_idx ON graph_links (graph_id, graph_version, sink_id);

CREATE TABLE graph_executions (
    id                         uuid PRIMARY KEY,
    graph_id                   uuid NOT NULL,
    graph_version              integer NOT NULL,
    user_id                    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status                     text NOT NULL CHECK (status IN ('QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')),
    priority                   smallint NOT NULL DEFAULT 0,
    inputs                     jsonb NOT NULL DEFAULT '{}'::jsonb,
    outputs                    jsonb NOT NULL DEFAULT '{}'::jsonb,
    error                      text,
    error_node_id              text,
    stats                      jsonb NOT NULL DEFAULT '{}'::jsonb,
    parent_execution_id        uuid REFERENCES graph_executions (id) ON DELETE CASCADE,
    parent_node_execution_id   uuid,
    cancel_requested           boolean NOT NULL DEFAULT false,
    -- The process that owns the run: it holds advisory lock (EXECUTOR_LOCK_CLASS, executor_key) for
    -- as long as it lives, so a run whose owner's lock is free belongs to a dead process.
    executor_key               integer,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    started_at                 timestamptz,
    ended_at                   timestamptz,
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (graph_id, graph_version) REFERENCES graphs (id, version) ON DELETE CASCADE
);
CREATE INDEX graph_executions_graph_status_idx ON graph_executions (graph_id, status);
CREATE INDEX graph_executions_created_idx ON graph_executions (created_at);
CREATE INDEX graph_executions_user_created_idx ON graph_executions (user_id, created_at DESC);
CREATE INDEX graph_executions_unfinished_idx ON graph_executions (created_at)
    WHERE status IN ('QUEUED', 'RUNNING');
CREATE INDEX graph_executions_parent_idx ON graph_executions (parent_node_execution_id)
    WHERE parent_node_execution_id IS NOT NULL;

CREATE TABLE node_executions (
    id                   uuid PRIMARY KEY,
    graph_execution_id   uuid NOT NULL REFERENCES graph_executions (id) ON DELETE CASCADE,
    node_id              text NOT NULL,
    block_id             text NOT NULL,
    seq                  integer NOT NULL,
    status               text NOT NULL CHECK (status IN ('INCOMPLETE', 'QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')),
    inputs               jsonb NOT NULL DEFAULT '{}'::jsonb,
    outputs              jsonb NOT NULL DEFAULT '[]'::jsonb,
    error                text,
    attempts             integer NOT NULL DEFAULT 0,
    queued_at            timestamptz,
    started_at           timestamptz,
    ended_at             timestamptz,
    stats                jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX node_executions_exec_idx ON node_executions (graph_execution_id, node_id, seq);
CREATE INDEX node_executions_status_idx ON node_executions (graph_execution_id, status);

CREATE TABLE credentials (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider        text NOT NULL,
    type            text NOT NULL,
    title           text,
    encrypted_data  bytea NOT NULL,
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
    expires_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX credentials_user_idx ON credentials (user_id, provider);

CREATE TABLE schedules (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    graph_id          uuid NOT NULL,
    graph_version     integer,
    name              text NOT NULL DEFAULT '',
    schedule_type     text NOT NULL CHECK (schedule_type IN ('ONCE', 'INTERVAL', 'CRON', 'DAILY', 'WEEKLY')),
    cron_expression   text,
    interval_seconds  integer CHECK (interval_seconds IS NULL OR interval_seconds > 0),
    run_at            timestamptz,
    timezone          text NOT NULL DEFAULT 'UTC',
    inputs            jsonb NOT NULL DEFAULT '{}'::jsonb,
    credentials       jsonb NOT NULL DEFAULT '{}'::jsonb,
    is_enabled        boolean NOT NULL DEFAULT true,
    next_run_at       timestamptz,
    last_run_at       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX schedules_user_idx ON schedules (user_id);
CREATE INDEX schedules_graph_idx ON schedules (graph_id);
CREATE INDEX schedules_next_run_idx ON schedules (next_run_at) WHERE is_enabled;
