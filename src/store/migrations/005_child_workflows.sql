-- A child workflow knows its parent: to report its outcome to it, and so the
-- parent's close policy can reach it when the parent closes first.
ALTER TABLE runs ADD COLUMN parent_run_id text;
ALTER TABLE runs ADD COLUMN parent_initiated_event_id int;
ALTER TABLE runs ADD COLUMN parent_close_policy text;
CREATE INDEX runs_by_parent ON runs (namespace, parent_run_id) WHERE parent_run_id IS NOT NULL;
