-- Queries waiting for a worker to answer them. Ephemeral: a row lives only
-- while its caller waits, and queries never touch the history.
CREATE TABLE queries (
  namespace text NOT NULL,
  query_id text NOT NULL,
  run_id text NOT NULL,
  workflow_id text NOT NULL,
  workflow_type text NOT NULL,
  task_queue text NOT NULL,
  query_name text NOT NULL,
  args jsonb NOT NULL,
  status text NOT NULL DEFAULT 'pending',
  created_at bigint NOT NULL,
  result jsonb,
  failure jsonb,
  PRIMARY KEY (namespace, query_id)
);
CREATE INDEX queries_claim ON queries (namespace, task_queue, created_at) WHERE status = 'pending';
