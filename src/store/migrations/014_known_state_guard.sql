-- A completion can be computed from what the engine already knows of the run
-- (it committed the run's last change itself) and sent whole, with no read
-- first: guards go ahead of its writes in the same message and check, under
-- the run's lock, that the rows still hold what the engine knew. This raises
-- when they do not, so the writes never run and the engine does the
-- completion again the usual way.
CREATE FUNCTION tideway_expect_known(holds boolean, run_id text) RETURNS boolean
LANGUAGE plpgsql AS $fn$
BEGIN
  IF NOT holds THEN
    RAISE EXCEPTION 'run % is not as this server last knew it', run_id USING ERRCODE = 'TWSTL';
  END IF;
  RETURN true;
END
$fn$;
