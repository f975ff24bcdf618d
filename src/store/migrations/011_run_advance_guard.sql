-- Moving a run's next event id is guarded: the update names the id it
-- expects, and matching no row means another transition moved the run
-- first. This raises that as an error inside the statement, so the update
-- can be sent without waiting for its answer (a transaction holds it back
-- and sends it with its next statement; the error still rolls it back).
CREATE FUNCTION tideway_expect_run_moved(moved bigint, run_id text) RETURNS boolean
LANGUAGE plpgsql AS $fn$
BEGIN
  IF moved <> 1 THEN
    RAISE EXCEPTION 'run % changed concurrently; retry the request', run_id USING ERRCODE = 'TWRUN';
  END IF;
  RETURN true;
END
$fn$;
