-- Statements marked `genericPlan` keep one plan per connection, made the
-- first time they run, often on empty tables. There every index whose
-- first column is `namespace` costs the same as the primary key, and a
-- lookup by run id that picked a queue's claim index would scan the whole
-- queue once it fills. These indexes become partial on a condition that
-- every query meant to use them states or implies (a claim's
-- `visible_at <= …`, a look-up's `workflow_id = …`, a listing's
-- `start_time IS NOT NULL`), so a lookup by
-- primary key cannot pick them at all. They hold the same rows as before:
-- the columns are NOT NULL.
DROP INDEX workflow_tasks_claim;
CREATE INDEX workflow_tasks_claim ON workflow_tasks (namespace, task_queue, visible_at) WHERE visible_at IS NOT NULL;
DROP INDEX activity_tasks_claim;
CREATE INDEX activity_tasks_claim ON activity_tasks (namespace, task_queue, visible_at) WHERE visible_at IS NOT NULL;
DROP INDEX runs_by_start;
CREATE INDEX runs_by_start ON runs (namespace, start_time DESC, run_id DESC) WHERE start_time IS NOT NULL;
DROP INDEX runs_by_workflow;
CREATE INDEX runs_by_workflow ON runs (namespace, workflow_id, start_time DESC) WHERE workflow_id IS NOT NULL;
