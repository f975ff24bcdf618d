-- Task events: a per-run side channel (progress, milestones, output, task
-- outcomes) outside the history. One counter row per run numbers them, so a
-- watcher resuming after seq N misses nothing; `closed` is set with the run's
-- last event, after which nothing more is appended.
CREATE TABLE task_event_streams (
  namespace text NOT NULL,
  run_id text NOT NULL,
  last_seq bigint NOT NULL,
  closed boolean NOT NULL DEFAULT false,
  PRIMARY KEY (namespace, run_id)
);

CREATE TABLE task_events (
  namespace text NOT NULL,
  run_id text NOT NULL,
  seq bigint NOT NULL,
  workflow_id text NOT NULL,
  source text NOT NULL,
  kind text NOT NULL,
  activity_id text,
  activity_type text,
  attempt integer,
  message text,
  data jsonb,
  created_at bigint NOT NULL,
  PRIMARY KEY (namespace, run_id, seq)
);

-- Retention deletes by age.
CREATE INDEX task_events_created_at ON task_events (created_at);

-- Output budget of the current attempt: bytes reported in the current one-minute window.
ALTER TABLE activity_tasks ADD COLUMN output_window_start bigint NOT NULL DEFAULT 0;
ALTER TABLE activity_tasks ADD COLUMN output_window_bytes bigint NOT NULL DEFAULT 0;
