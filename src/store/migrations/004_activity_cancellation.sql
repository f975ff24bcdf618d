-- A workflow asked for a started activity to stop: its next heartbeat is told
-- so, and whatever it reports next ends it as cancelled.
ALTER TABLE activity_tasks ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false;
