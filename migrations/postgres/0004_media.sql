-- Media a guest sent (NumMedia items of an inbound message), downloaded from Twilio by a worker.
CREATE TABLE media (
    id            TEXT PRIMARY KEY,
    message_id    TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    position      BIGINT NOT NULL,
    url           TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    -- pending, stored or failed
    state         TEXT NOT NULL,
    size          BIGINT,
    error         TEXT,
    attempts      BIGINT NOT NULL DEFAULT 0,
    run_at        BIGINT NOT NULL,
    lease_until   BIGINT,
    created_at    BIGINT NOT NULL,
    CONSTRAINT media_message_position_key UNIQUE (message_id, position)
);
CREATE INDEX media_due ON media (state, run_at);
