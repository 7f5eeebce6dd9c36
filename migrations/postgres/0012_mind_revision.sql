-- Counts the edits to what an agent thinks with (its texts, brain, FAQ, keys), so a turn can
-- tell whether the brain it loaded earlier is still current without loading it again.
ALTER TABLE agents ADD COLUMN mind_revision BIGINT NOT NULL DEFAULT 0;
