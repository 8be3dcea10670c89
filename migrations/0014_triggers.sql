-- Webhook triggers: a URL (POST /api/v1/hooks/{id}) that starts a run of one of its owner's agents
-- (workbench/services/triggers.py holds the rules).
--
-- The secret is stored encrypted (Fernet, with a key derived from the credentials vault's key) and is
-- shown once, when the trigger is made or its secret rotated. graph_version NULL runs the agent's
-- active version at each call. input_mapping NULL takes the payload's top-level keys as the inputs;
-- else it maps input names to JSON pointers ("/a/0/b") or dotted paths ("a.0.b") into the payload.
-- rate_tat is the rate limit's state (GCRA, the token bucket as one timestamp: the "theoretical
-- arrival time"); a call is admitted while rate_tat stays within a minute of now.
CREATE TABLE triggers (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id                uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    graph_id               uuid NOT NULL,
    graph_version          integer CHECK (graph_version IS NULL OR graph_version >= 1),
    name                   text NOT NULL DEFAULT '',
    auth_mode              text NOT NULL CHECK (auth_mode IN ('hmac', 'bearer')),
    encrypted_secret       bytea NOT NULL,
    input_mapping          jsonb,
    credentials            jsonb NOT NULL DEFAULT '{}'::jsonb,
    is_enabled             boolean NOT NULL DEFAULT true,
    rate_limit_per_minute  integer NOT NULL DEFAULT 60 CHECK (rate_limit_per_minute BETWEEN 1 AND 10000),
    rate_tat               timestamptz,
    fire_count             bigint NOT NULL DEFAULT 0,
    last_fired_at          timestamptz,
    last_execution_id      uuid,
    secret_rotated_at      timestamptz NOT NULL DEFAULT now(),
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX triggers_user_idx ON triggers (user_id, created_at DESC);
CREATE INDEX triggers_graph_idx ON triggers (graph_id);

-- The replay guard: a digest of every accepted HMAC signature, kept until its timestamp falls out of
-- the tolerance window (after that the timestamp check refuses the request anyway). The primary key
-- makes "seen before?" and "remember it" one atomic insert, exact across API replicas.
CREATE TABLE trigger_signatures (
    trigger_id  uuid NOT NULL REFERENCES triggers (id) ON DELETE CASCADE,
    digest      bytea NOT NULL,
    seen_until  timestamptz NOT NULL,
    PRIMARY KEY (trigger_id, digest)
);
CREATE INDEX trigger_signatures_expiry_idx ON trigger_signatures (seen_until);
