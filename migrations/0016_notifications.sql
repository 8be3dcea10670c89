-- Notifications (the notifier service): where each user's notifications go, what they want to hear
-- about, the notifications themselves (the in-app inbox) and one delivery row per notification and
-- outside channel (the outbox the notifier sends from, and the delivery log users read).

-- A user's outside destinations. The address (an email address, or a webhook, Slack or Discord URL,
-- which for Slack and Discord is itself a secret) and a webhook's signing secret are encrypted;
-- `display` is what listings show (an email address, or a URL cut to its origin).
CREATE TABLE notification_channels (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('email', 'webhook', 'slack', 'discord')),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    address         bytea NOT NULL,
    secret          bytea,
    display         text NOT NULL,
    enabled         boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, name)
);
CREATE INDEX notification_channels_user_idx ON notification_channels (user_id, kind);

-- Which events go on which channels, per-agent overrides, quiet hours and the daily cap
-- (workbench.services.notifications.preferences documents the document). No row: the defaults.
CREATE TABLE notification_preferences (
    user_id     uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    prefs       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Every notification made for a user, once: UNIQUE (user_id, dedupe_key) is what makes an event
-- delivered twice (a redelivered queue message, a second notifier) a single notification.
-- in_app: shown in the inbox (the apps, GET /api/v1/notifications); read_at: when it was read.
CREATE TABLE notifications (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          text NOT NULL,
    dedupe_key    text NOT NULL,
    title         text NOT NULL,
    body          text NOT NULL,
    html          text,
    data          jsonb NOT NULL DEFAULT '{}'::jsonb,
    graph_id      uuid,
    execution_id  uuid,
    in_app        boolean NOT NULL DEFAULT false,
    read_at       timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, dedupe_key)
);
CREATE INDEX notifications_inbox_idx ON notifications (user_id, created_at DESC) WHERE in_app;
CREATE INDEX notifications_unread_idx ON notifications (user_id) WHERE in_app AND read_at IS NULL;

-- One row per notification and outside channel: the outbox and the delivery log.
--   pending     to send at next_attempt_at (new; retried after a failure; held by quiet hours)
--   sending     a notifier holds it until lease_until (past that, another may take it again)
--   delivered   sent; report holds the attempts
--   failed      given up (a permanent failure, or retries exhausted)
--   suppressed  not sent, on purpose: reason says why (the daily cap)
CREATE TABLE notification_deliveries (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    notification_id  uuid NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel_id       uuid REFERENCES notification_channels (id) ON DELETE SET NULL,
    channel          text NOT NULL,
    target           text NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sending', 'delivered', 'failed', 'suppressed')),
    reason           text,
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,
    report           jsonb NOT NULL DEFAULT '[]'::jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    UNIQUE (notification_id, channel_id)
);
CREATE INDEX notification_deliveries_due_idx ON notification_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX notification_deliveries_lease_idx ON notification_deliveries (lease_until)
    WHERE status = 'sending';
CREATE INDEX notification_deliveries_user_idx ON notification_deliveries (user_id, created_at DESC);

-- Runs the notifier has handled. The notifier's sweep finds ended top-level runs whose event never
-- arrived (an executor killed between storing the end and publishing it). Runs that ended before
-- this migration count as handled.
ALTER TABLE graph_executions ADD COLUMN notified_at timestamptz;
UPDATE graph_executions SET notified_at = coalesce(ended_at, updated_at)
    WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED');
CREATE INDEX graph_executions_unnotified_idx ON graph_executions (ended_at)
    WHERE notified_at IS NULL AND status IN ('COMPLETED', 'FAILED', 'CANCELLED');

-- Schedule fires the notifier has handled (missed ones and ones that could not start a run).
ALTER TABLE schedule_runs ADD COLUMN notified_at timestamptz;
UPDATE schedule_runs SET notified_at = updated_at WHERE status IN ('MISSED', 'FAILED');
CREATE INDEX schedule_runs_unnotified_idx ON schedule_runs (updated_at)
    WHERE notified_at IS NULL AND status IN ('MISSED', 'FAILED');
