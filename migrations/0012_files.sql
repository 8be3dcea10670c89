-- Files users upload and blocks produce (workbench/files): the records; the bytes are in the blob
-- store (a folder or an S3 bucket, WORKBENCH_FILE_STORE_URL) under `storage_key`. A file belongs to
-- one user; `graph_execution_id` names the run that produced it (no foreign key: a run's row may be
-- written after its blocks store files, and a file outlives the run).

CREATE TABLE files (
    id                  uuid PRIMARY KEY,
    user_id             uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    content_type        text NOT NULL,
    size                bigint NOT NULL CHECK (size >= 0),
    sha256              text NOT NULL,
    storage_key         text NOT NULL UNIQUE,
    graph_execution_id  uuid,
    created_at          timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX files_user_created ON files (user_id, created_at DESC, id DESC);
CREATE INDEX files_graph_execution ON files (graph_execution_id) WHERE graph_execution_id IS NOT NULL;
