-- Webhook triggers take GitHub's signature scheme too (auth_mode 'github': X-Hub-Signature-256, the
-- HMAC-SHA256 of the raw body, and the X-GitHub-Delivery id; workbench/services/trigger_signing.py).
-- Its calls carry no timestamp, so the replay guard (trigger_signatures) keeps a digest of each
-- accepted delivery id and body for days rather than minutes; the table is unchanged.
ALTER TABLE triggers DROP CONSTRAINT triggers_auth_mode_check;
ALTER TABLE triggers ADD CONSTRAINT triggers_auth_mode_check
    CHECK (auth_mode IN ('hmac', 'bearer', 'github'));
