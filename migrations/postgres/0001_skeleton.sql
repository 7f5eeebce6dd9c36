-- Switchboard's first schema. Ids are random text; times are Unix milliseconds; flags are 0 or 1
-- (sqlx's Any driver reads no SQLite BOOLEAN, so both databases store flags as integers).
-- migrations/sqlite/0001_skeleton.sql holds the same schema in SQLite's types.

-- One row once the first organization is set up: two racing setup requests cannot both win.
CREATE TABLE installation (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    created_at  BIGINT NOT NULL
);

CREATE TABLE organizations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email          TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('org_admin', 'agent_owner')),
    created_at     BIGINT NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email)
);

CREATE TABLE sessions (
    id      TEXT PRIMARY KEY,
    data    BYTEA NOT NULL,
    expiry  BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expiry);

CREATE TABLE connectors (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    account_sid      TEXT NOT NULL,
    auth_token_enc   BYTEA NOT NULL,
    receive_inbound  BIGINT NOT NULL CHECK (receive_inbound IN (0, 1)),
    state            TEXT NOT NULL CHECK (state IN ('active', 'error')),
    health           TEXT NOT NULL CHECK (health IN ('connected', 'rejected', 'unreachable', 'checking')),
    reason           TEXT,
    account_name     TEXT,
    trial            BIGINT NOT NULL DEFAULT 0 CHECK (trial IN (0, 1)),
    checked_at       BIGINT,
    webhook_key      TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    CONSTRAINT connectors_org_name_key UNIQUE (org_id, name),
    CONSTRAINT connectors_webhook_key_key UNIQUE (webhook_key)
);

-- A WhatsApp sender or phone number of a connector's Twilio account.
CREATE TABLE numbers (
    id                  TEXT PRIMARY KEY,
    connector_id        TEXT NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
    address             TEXT NOT NULL,  -- what Twilio puts in To/From: whatsapp:+E164 or +E164
    phone_number        TEXT NOT NULL,
    provider            TEXT NOT NULL CHECK (provider IN ('whatsapp', 'sms')),
    provider_sid        TEXT NOT NULL,  -- XE… sender or PN… phone number
    display_name        TEXT,
    sender_status       TEXT,
    active              BIGINT NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),
    webhook_state       TEXT NOT NULL DEFAULT 'unknown' CHECK (webhook_state IN ('unknown', 'configured', 'not_configured')),
    webhook_detail      TEXT,
    created_at          BIGINT NOT NULL,
    CONSTRAINT numbers_connector_address_key UNIQUE (connector_id, address)
);

CREATE TABLE agents (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    fallback_reply  TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    CONSTRAINT agents_org_name_key UNIQUE (org_id, name)
);

CREATE TABLE faq_entries (
    agent_id  TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    position  BIGINT NOT NULL,
    question  TEXT NOT NULL,
    answer    TEXT NOT NULL,
    PRIMARY KEY (agent_id, position)
);

-- One number answers for one agent: the unique constraint is what "Already bound" rests on.
CREATE TABLE channels (
    id          TEXT PRIMARY KEY,
    agent_id    TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    number_id   TEXT NOT NULL REFERENCES numbers (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    CONSTRAINT channels_number_key UNIQUE (number_id)
);

CREATE TABLE conversations (
    id               TEXT PRIMARY KEY,
    number_id        TEXT NOT NULL REFERENCES numbers (id) ON DELETE CASCADE,
    guest_address    TEXT NOT NULL,
    guest_name       TEXT,
    agent_id         TEXT REFERENCES agents (id) ON DELETE SET NULL,
    last_inbound_at  BIGINT,
    created_at       BIGINT NOT NULL,
    CONSTRAINT conversations_number_guest_key UNIQUE (number_id, guest_address)
);
CREATE INDEX conversations_agent ON conversations (agent_id);

CREATE TABLE messages (
    id               TEXT PRIMARY KEY,
    conversation_id  TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    connector_id     TEXT NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
    direction        TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    body             TEXT NOT NULL,
    twilio_sid       TEXT,
    status           TEXT NOT NULL,
    status_rank      BIGINT NOT NULL DEFAULT 0,
    error_code       BIGINT,
    error_message    TEXT,
    params           TEXT,  -- every parameter Twilio sent with an inbound message, as JSON
    created_at       BIGINT NOT NULL,
    CONSTRAINT messages_connector_sid_key UNIQUE (connector_id, twilio_sid)
);
CREATE INDEX messages_conversation ON messages (conversation_id, created_at);

-- Work that leaves the request path: the agent's turn for an inbound message, the send of a reply.
CREATE TABLE jobs (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('turn', 'send')),
    message_id   TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    run_at       BIGINT NOT NULL,
    lease_until  BIGINT,
    attempts     BIGINT NOT NULL DEFAULT 0,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    CONSTRAINT jobs_kind_message_key UNIQUE (kind, message_id)
);
CREATE INDEX jobs_due ON jobs (state, run_at);
