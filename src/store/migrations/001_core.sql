-- Tideway core schema. Times are milliseconds since the epoch (bigint) set by
-- the engine's clock, so every replica and both stores agree on units.
-- The namespace leads every key: one Postgres can hold many tenants and can be
-- sharded by (namespace, workflow id / run id) later.

-- A run of a workflow. At most one running run per (namespace, workflow_id).
CREATE TABLE runs (
  namespace text NOT NULL,
  run_id text NOT NULL,
  workflow_id text NOT NULL,
  workflow_type text NOT NULL,
  task_queue text NOT NULL,
  status text NOT NULL,
  request_id text,
  -- optimistic concurrency guard: every transition appends at next_event_id
  next_event_id int NOT NULL,
  -- the last event the worker that completed the latest workflow task had seen
  seen_up_to_event_id int NOT NULL DEFAULT 0,
  workflow_task_timeout_ms int NOT NULL,
  start_time bigint NOT NULL,
  close_time bigint,
  result jsonb,
  failure jsonb,
  PRIMARY KEY (namespace, run_id)
);
CREATE UNIQUE INDEX runs_one_running ON runs (namespace, workflow_id) WHERE status = 'running';
CREATE INDEX runs_by_workflow ON runs (namespace, workflow_id, start_time DESC);
CREATE INDEX runs_by_start ON runs (namespace, start_time DESC, run_id DESC);

-- The append-only history of each run.
CREATE TABLE history_events (
  namespace text NOT NULL,
  run_id text NOT NULL,
  event_id int NOT NULL,
  type text NOT NULL,
  ts bigint NOT NULL,
  attributes jsonb NOT NULL,
  PRIMARY KEY (namespace, run_id, event_id)
);

-- At most one workflow task per run, pending or leased. visible_at is when it
-- may be claimed: now when scheduled, later when backing off after a failure,
-- and the lease expiry while leased (an expired lease is simply claimable).
CREATE TABLE workflow_tasks (
  namespace text NOT NULL,
  run_id text NOT NULL,
  workflow_id text NOT NULL,
  workflow_type text NOT NULL,
  task_queue text NOT NULL,
  attempt int NOT NULL DEFAULT 1,
  visible_at bigint NOT NULL,
  lease_id text,
  leased_at bigint,
  last_event_id_at_lease int,
  last_failure jsonb,
  PRIMARY KEY (namespace, run_id)
);
CREATE INDEX workflow_tasks_claim ON workflow_tasks (namespace, task_queue, visible_at);

-- Activity tasks of running workflows, one row per scheduled activity across
-- all its attempts. While leased, visible_at is far in the future and the
-- activity's timer row enforces its timeouts.
CREATE TABLE activity_tasks (
  namespace text NOT NULL,
  run_id text NOT NULL,
  scheduled_event_id int NOT NULL,
  workflow_id text NOT NULL,
  workflow_type text NOT NULL,
  activity_id text NOT NULL,
  activity_type text NOT NULL,
  task_queue text NOT NULL,
  input jsonb NOT NULL,
  attempt int NOT NULL DEFAULT 1,
  scheduled_at bigint NOT NULL,
  visible_at bigint NOT NULL,
  lease_id text,
  started_at bigint,
  schedule_to_start_ms bigint,
  start_to_close_ms bigint,
  schedule_to_close_ms bigint,
  heartbeat_ms bigint,
  retry_policy jsonb NOT NULL,
  heartbeat_details jsonb,
  last_heartbeat_at bigint,
  last_failure jsonb,
  PRIMARY KEY (namespace, run_id, scheduled_event_id)
);
CREATE INDEX activity_tasks_claim ON activity_tasks (namespace, task_queue, visible_at);

-- Every timer and timeout: user timers, activity timeouts. Fired once by
-- whichever server's timer service locks the row first.
CREATE TABLE timers (
  namespace text NOT NULL,
  run_id text NOT NULL,
  timer_key text NOT NULL,
  kind text NOT NULL,
  due_at bigint NOT NULL,
  data jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (namespace, run_id, timer_key)
);
CREATE INDEX timers_due ON timers (due_at);

-- Workers seen polling each task queue, and what they can run. Lets a start
-- with a misspelt workflow name be rejected when workers are known.
CREATE TABLE pollers (
  namespace text NOT NULL,
  task_queue text NOT NULL,
  identity text NOT NULL,
  kind text NOT NULL,
  types jsonb NOT NULL,
  last_seen_at bigint NOT NULL,
  PRIMARY KEY (namespace, task_queue, kind, identity)
);
