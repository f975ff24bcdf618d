-- Until when someone waits for a run's next task events (milliseconds since
-- the epoch). An append notifies other replicas only while a watcher waits:
-- otherwise every activity step would send a notification nobody reads.
ALTER TABLE task_event_streams ADD COLUMN watched_until bigint NOT NULL DEFAULT 0;
