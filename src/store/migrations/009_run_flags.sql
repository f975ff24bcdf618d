-- Whether a run ever started children or received updates, so closing the
-- (common) run that did neither costs no lookups for them.
ALTER TABLE runs ADD COLUMN has_children boolean NOT NULL DEFAULT false;
ALTER TABLE runs ADD COLUMN has_updates boolean NOT NULL DEFAULT false;
