-- Continue-as-new links a closed run to the run that carries on, and the
-- execution deadline (execution timeout) spans the whole chain of runs.
ALTER TABLE runs ADD COLUMN next_run_id text;
ALTER TABLE runs ADD COLUMN execution_deadline bigint;
