-- Account security (issue 10): ending sessions, per-address mail limits.

-- Every access token carries the generation of its user at issue time; ending every session of a
-- user (password reset, "log out everywhere", deactivation) bumps it, so older tokens stop working.
ALTER TABLE users ADD COLUMN token_generation integer NOT NULL DEFAULT 0;
-- A refresh token remembers the generation it was issued in: rotating it issues the next pair in
-- that same generation, which fails once the sessions were ended (even in a race with the ending).
ALTER TABLE auth_tokens ADD COLUMN generation integer;

-- One row per account mail sent (reset, verification, sign-up notice): what the per-address hourly
-- limit (WORKBENCH_RESET_PER_HOUR) counts. Rows older than the window are pruned as new ones come.
CREATE TABLE account_mails (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX account_mails_user_idx ON account_mails (user_id, kind, created_at);
