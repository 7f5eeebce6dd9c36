-- The message pipeline: one turn row per conversation (so turns for one guest never overlap and
-- messages that arrive during a turn go into the next one), an ordered outbox for replies, and a
-- shared send schedule per number (the rate cap holds across workers and instances).

DROP TABLE jobs;

CREATE TABLE turns (
    conversation_id  TEXT PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'idle')),
    generation       BIGINT NOT NULL DEFAULT 0,  -- bumped by every inbound message
    run_at           BIGINT NOT NULL,
    lease_until      BIGINT,
    attempts         BIGINT NOT NULL DEFAULT 0,  -- claims so far: the fencing token of the current lease
    failures         BIGINT NOT NULL DEFAULT 0,  -- failed tries since the last finished turn
    last_error       TEXT,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX turns_due ON turns (state, run_at);

CREATE TABLE outbox (
    message_id       TEXT PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    conversation_id  TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq              BIGINT NOT NULL,  -- order of sending within the conversation
    state            TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    run_at           BIGINT NOT NULL,
    lease_until      BIGINT,
    attempts         BIGINT NOT NULL DEFAULT 0,
    -- Set just before Twilio is asked to send; still set on a later claim, it means the outcome of
    -- that request is unknown (a crash, a timeout, a 5xx) and Twilio is asked before sending again.
    in_flight_since  BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    CONSTRAINT outbox_conversation_seq_key UNIQUE (conversation_id, seq)
);
CREATE INDEX outbox_due ON outbox (state, run_at);

-- The next free send time of each number, in microseconds.
CREATE TABLE send_schedule (
    number_id  TEXT PRIMARY KEY REFERENCES numbers (id) ON DELETE CASCADE,
    next_at    BIGINT NOT NULL
);

ALTER TABLE conversations ADD COLUMN out_seq BIGINT NOT NULL DEFAULT 0;
-- When Twilio last said the 24-hour window is closed (63016), whatever the clock says.
ALTER TABLE conversations ADD COLUMN window_closed_at BIGINT;
-- Inbound: 1 once taken into a turn (or not meant for an agent).
ALTER TABLE messages ADD COLUMN answered BIGINT NOT NULL DEFAULT 0;
-- What the backoffice should know about a message: a brain that failed, a window that closed.
ALTER TABLE messages ADD COLUMN note TEXT;
