-- Names of signals a run received that no handler has taken yet, as its
-- worker last reported them: shown by describe.
ALTER TABLE runs ADD COLUMN buffered_signals jsonb NOT NULL DEFAULT '[]';
