-- Marketplace (workbench/store/templates.py, workbench/services/marketplace.py): agents published as
-- templates that every user can browse, search, look at and fork into their own library.
--
-- A template is an immutable snapshot of one version of its publisher's graph: ``graph`` holds the
-- document (nodes, links and the sub-graphs it runs, credential references stripped at publish), so
-- what others see never changes under them and never carries the publisher's private data. One
-- template per graph and publisher: publishing the graph again replaces it. The published version is
-- marked ``graphs.is_template`` (AutoGPT's field); deleting the graph (or the user) removes the
-- template.
--
-- ``block_ids`` and ``credentials`` (what the template needs: [{provider, blocks, models}]) are
-- computed from the blocks at publish; ``providers`` lists the credential providers alone.

CREATE TABLE templates (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    graph_id       uuid NOT NULL,
    graph_version  integer NOT NULL,
    name           text NOT NULL,
    description    text NOT NULL DEFAULT '',
    block_ids      text[] NOT NULL DEFAULT '{}',
    providers      text[] NOT NULL DEFAULT '{}',
    credentials    jsonb NOT NULL DEFAULT '[]'::jsonb,
    graph          jsonb NOT NULL,
    node_count     integer NOT NULL DEFAULT 0,
    fork_count     integer NOT NULL DEFAULT 0,
    published_at   timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, graph_id),
    FOREIGN KEY (graph_id, graph_version) REFERENCES graphs (id, version) ON DELETE CASCADE
);
-- Browsing lists everyone's templates, newest first (id breaks ties).
CREATE INDEX templates_published_idx ON templates (published_at DESC, id DESC);
CREATE INDEX templates_graph_idx ON templates (graph_id, graph_version);

-- Search is ILIKE on name and description; pg_trgm indexes serve it where the server has the
-- extension (0001 creates it when available; the embedded server has none and scans).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX templates_name_trgm_idx ON templates USING gin (name gin_trgm_ops);
        CREATE INDEX templates_description_trgm_idx ON templates USING gin (description gin_trgm_ops);
    END IF;
END
$$;
