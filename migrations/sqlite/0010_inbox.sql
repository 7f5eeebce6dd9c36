-- The inbox. A conversation is live until both sides have been quiet for the agent's
-- inactivity period, then ended; a new message opens it again. Staff may pause the agent in
-- one conversation (human takeover) and answer from the backoffice.
ALTER TABLE conversations ADD COLUMN state TEXT NOT NULL DEFAULT 'live' CHECK (state IN ('live', 'ended'));
ALTER TABLE conversations ADD COLUMN ended_at BIGINT;
ALTER TABLE conversations ADD COLUMN last_activity_at BIGINT;
ALTER TABLE conversations ADD COLUMN paused_at BIGINT;
ALTER TABLE conversations ADD COLUMN paused_by TEXT;
UPDATE conversations SET last_activity_at = COALESCE(last_inbound_at, created_at);
CREATE INDEX conversations_agent_activity ON conversations (agent_id, last_activity_at);
CREATE INDEX conversations_state_activity ON conversations (state, last_activity_at);

ALTER TABLE agents ADD COLUMN inactivity_secs BIGINT NOT NULL DEFAULT 600;

-- What the agent's brain did on a turn, for debugging: its input and output, how long it took,
-- what went wrong. The replies it produced point at it.
CREATE TABLE executions (
    id               TEXT PRIMARY KEY,
    conversation_id  TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    agent_id         TEXT,
    brain            TEXT NOT NULL,
    input            TEXT NOT NULL,
    output           TEXT,
    error            TEXT,
    latency_ms       BIGINT NOT NULL,
    created_at       BIGINT NOT NULL
);
CREATE INDEX executions_conversation ON executions (conversation_id, created_at);
ALTER TABLE messages ADD COLUMN execution_id TEXT;
CREATE INDEX messages_created ON messages (created_at);

-- Webhook requests refused for a known connector (bad signature, unknown number…), per day,
-- for the dashboard.
CREATE TABLE webhook_rejections (
    org_id  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    day     TEXT NOT NULL,
    reason  TEXT NOT NULL,
    count   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, day, reason)
);
