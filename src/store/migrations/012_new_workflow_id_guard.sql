-- A start of a workflow id that has no runs yet needs no look at them first:
-- the start sends this guard ahead of its inserts, all in one message, and
-- reads the id's runs (reuse policy, a retried request id) only when it
-- raises. The look itself stays in the calling statement, so it is planned
-- with the statement's values like every other.
CREATE FUNCTION tideway_expect_new_workflow_id(used boolean, workflow_id text) RETURNS boolean
LANGUAGE plpgsql AS $fn$
BEGIN
  IF used THEN
    RAISE EXCEPTION 'workflow id % already has runs', workflow_id USING ERRCODE = 'TWUSE';
  END IF;
  RETURN true;
END
$fn$;
