-- Accounts (password and OAuth logins), API keys, one-time auth tokens.

ALTER TABLE users
    ADD COLUMN password_hash   text,
    ADD COLUMN email_verified  boolean NOT NULL DEFAULT false,
    ADD COLUMN is_active       boolean NOT NULL DEFAULT true;

-- Keys are shown once and stored only as a keyed SHA-256 (HMAC) of the key.
CREATE TABLE api_keys (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          text NOT NULL,
    prefix        text NOT NULL,
    key_hash      bytea NOT NULL UNIQUE,
    scopes        text[] NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    expires_at    timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_keys_user_idx ON api_keys (user_id);

CREATE TABLE oauth_accounts (
    provider    text NOT NULL,
    subject     text NOT NULL,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, subject)
);
CREATE INDEX oauth_accounts_user_idx ON oauth_accounts (user_id);

-- Refresh, password-reset and email-verification tokens: random, single-use, stored hashed.
CREATE TABLE auth_tokens (
    token_hash  bytea PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('refresh', 'reset', 'verify')),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX auth_tokens_user_idx ON auth_tokens (user_id, kind);

-- Which stored credentials a run may use, by credentials field (ids only, never secrets).
ALTER TABLE graph_executions ADD COLUMN credentials jsonb NOT NULL DEFAULT '{}'::jsonb;
