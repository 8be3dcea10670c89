-- Schedules that start agents on time (the scheduler service), and the record of every fire.
--
-- DAILY and WEEKLY schedules fire at time_of_day (wall clock, in the schedule's timezone); WEEKLY on
-- the given weekdays ('mon' .. 'sun'). A paused schedule has is_enabled = false and paused_at set; a
-- ONCE schedule that has fired (or was missed) has is_enabled = false and paused_at NULL.
-- updated_at changes only when the user changes the schedule: the scheduler watches it to rebuild its
-- jobs, and never touches it when it fires.

ALTER TABLE schedules
    ADD COLUMN time_of_day            time,
    ADD COLUMN weekdays               text[],
    ADD COLUMN misfire_grace_seconds  integer NOT NULL DEFAULT 60 CHECK (misfire_grace_seconds >= 0),
    ADD COLUMN paused_at              timestamptz,
    ADD CONSTRAINT schedules_graph_version_check CHECK (graph_version IS NULL OR graph_version >= 1);

CREATE INDEX schedules_updated_idx ON schedules (updated_at) WHERE is_enabled;

-- One row per fire of a schedule. UNIQUE (schedule_id, fire_time) makes a fire happen once even if
-- two schedulers raced: the one whose insert wins starts the execution. The execution id is chosen
-- before the execution is created (PENDING), so a scheduler that dies in between leaves a row that
-- the next leader completes with the same id (and a second attempt cannot create a second run).
--   PENDING    claimed, execution not yet confirmed created
--   SUBMITTED  the execution was created
--   FAILED     the execution could not be created (graph gone, inputs no longer valid...): see error
--   MISSED     the fire came later than the schedule's misfire grace period: no execution
-- coalesced: how many fire times this row stands for (missed fire times are merged into one run).
CREATE TABLE schedule_runs (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    schedule_id   uuid NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    fire_time     timestamptz NOT NULL,
    execution_id  uuid,
    status        text NOT NULL DEFAULT 'PENDING'
                  CHECK (status IN ('PENDING', 'SUBMITTED', 'FAILED', 'MISSED')),
    coalesced     integer NOT NULL DEFAULT 1 CHECK (coalesced >= 1),
    error         text,
    fired_by      text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (schedule_id, fire_time)
);
CREATE INDEX schedule_runs_schedule_idx ON schedule_runs (schedule_id, fire_time DESC);
CREATE INDEX schedule_runs_pending_idx ON schedule_runs (created_at) WHERE status = 'PENDING';
CREATE UNIQUE INDEX schedule_runs_execution_idx ON schedule_runs (execution_id) WHERE execution_id IS NOT NULL;
