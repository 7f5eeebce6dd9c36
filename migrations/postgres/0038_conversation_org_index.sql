-- The index of each organization's conversations by state and activity (migration 0036), and the
-- planner's statistics of the column 0037 filled in. Writes to conversations wait while the index
-- is built (about a second for 500,000 conversations). Built concurrently instead, it would wait
-- for every other transaction of the database to end, among them another instance's start waiting
-- for this one's migrations, which PostgreSQL would resolve by cancelling the build and leaving the
-- index invalid.
CREATE INDEX IF NOT EXISTS conversations_org_state_activity ON conversations (org_id, state, last_activity_at, id);
ANALYZE conversations;
