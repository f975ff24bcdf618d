-- Updates sent to running workflows, from request to outcome. The row is
-- what callers wait on; the history records only accepted updates.
CREATE TABLE updates (
  namespace text NOT NULL,
  run_id text NOT NULL,
  update_id text NOT NULL,
  workflow_id text NOT NULL,
  update_name text NOT NULL,
  args jsonb NOT NULL,
  status text NOT NULL DEFAULT 'requested',
  result jsonb,
  failure jsonb,
  created_at bigint NOT NULL,
  PRIMARY KEY (namespace, run_id, update_id)
);
CREATE INDEX updates_requested ON updates (namespace, run_id) WHERE status = 'requested';
-- A workflow task created only to deliver updates: if the worker rejects
-- them all and nothing else happened, it leaves no trace in the history.
ALTER TABLE workflow_tasks ADD COLUMN speculative boolean NOT NULL DEFAULT false;
