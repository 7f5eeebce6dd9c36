-- no-transaction
-- The index of each organization's conversations by state and activity (migration 0036), built
-- without blocking the writes of instances still running. A build cut off part way leaves the index
-- invalid, and this finds it there: `REINDEX INDEX CONCURRENTLY conversations_org_state_activity`
-- rebuilds it (docs/deployment.md).
CREATE INDEX CONCURRENTLY IF NOT EXISTS conversations_org_state_activity
    ON conversations (org_id, state, last_activity_at, id);
