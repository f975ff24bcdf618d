-- Set when an update was requested for the run since its workflow task was
-- created, so claims and completions look for updates only when there are any.
ALTER TABLE workflow_tasks ADD COLUMN updates_pending boolean NOT NULL DEFAULT false;
