-- Knowledge bases: documents cut into chunks, each with an embedding (pgvector) and a full-text
-- vector, searched by meaning (cosine, HNSW), by keywords (full-text search) or both (hybrid).
--
-- Each knowledge base has one embedding model and so one vector dimension. The embedding column is
-- an untyped `vector` (any dimension), and every knowledge base gets its own partial HNSW index on
-- `(embedding::vector(<its dimension>))` WHERE knowledge_base_id = <its id>, created with the
-- knowledge base and dropped with it (workbench/knowledge/store.py). A per-KB index answers
-- "nearest chunks of this KB" exactly from the index, which one shared index per dimension cannot
-- (pgvector 0.6 filters after the index scan). The cost is one index per knowledge base: fine for
-- hundreds of them per database, not for hundreds of thousands.
--
-- Keyword search uses PostgreSQL full-text search (tsvector, GIN, ts_rank) in the knowledge base's
-- text search configuration (`language`, e.g. english, simple): the embedded PostgreSQL has no
-- pg_trgm. The heading path is weighted above the text.

CREATE TABLE knowledge_bases (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description      text NOT NULL DEFAULT '',
    embedding_model  text NOT NULL,
    dimension        integer NOT NULL CHECK (dimension BETWEEN 1 AND 2000),
    language         text NOT NULL DEFAULT 'english',
    chunk_size       integer NOT NULL CHECK (chunk_size > 0),
    chunk_overlap    integer NOT NULL CHECK (chunk_overlap >= 0),
    metadata         jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, name)
);

CREATE TABLE knowledge_documents (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    knowledge_base_id  uuid NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
    title              text NOT NULL DEFAULT '',
    source             text NOT NULL DEFAULT '',
    content_type       text NOT NULL,
    metadata           jsonb NOT NULL DEFAULT '{}'::jsonb,
    sha256             text NOT NULL,
    char_count         integer NOT NULL DEFAULT 0,
    chunk_count        integer NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX knowledge_documents_kb_idx ON knowledge_documents (knowledge_base_id, created_at DESC);

-- metadata: the document's user metadata, copied to each chunk so that filters need no join.
CREATE TABLE knowledge_chunks (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    knowledge_base_id  uuid NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
    document_id        uuid NOT NULL REFERENCES knowledge_documents (id) ON DELETE CASCADE,
    chunk_index        integer NOT NULL,
    heading            text NOT NULL DEFAULT '',
    page               integer,
    content            text NOT NULL,
    metadata           jsonb NOT NULL DEFAULT '{}'::jsonb,
    embedding          vector NOT NULL,
    tsv                tsvector NOT NULL,
    UNIQUE (document_id, chunk_index)
);
CREATE INDEX knowledge_chunks_kb_idx ON knowledge_chunks (knowledge_base_id);
CREATE INDEX knowledge_chunks_tsv_idx ON knowledge_chunks USING gin (tsv);
CREATE INDEX knowledge_chunks_metadata_idx ON knowledge_chunks USING gin (metadata jsonb_path_ops);
