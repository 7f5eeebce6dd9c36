-- Who may talk to an agent. The policy: anyone ('open'), guests who verified an email address
-- ('email'), or only verified addresses on the agent's shared list ('approval'). Onboarding,
-- independent of it, holds new senders until their number is approved.
ALTER TABLE agents ADD COLUMN access_policy TEXT NOT NULL DEFAULT 'open' CHECK (access_policy IN ('open', 'email', 'approval'));
ALTER TABLE agents ADD COLUMN onboarding BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN onboarding_message TEXT NOT NULL DEFAULT '';

-- The email addresses that may talk to an agent under the 'approval' policy.
CREATE TABLE shared_emails (
    agent_id   TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    email      TEXT NOT NULL,
    added_at   BIGINT NOT NULL,
    added_by   TEXT,
    PRIMARY KEY (agent_id, email)
);

-- An email address a guest proved with a code, linked to the address they write from, per organization.
CREATE TABLE guest_identities (
    org_id        TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    guest_address TEXT NOT NULL,
    email         TEXT NOT NULL,
    verified_at   BIGINT NOT NULL,
    PRIMARY KEY (org_id, guest_address)
);

-- Codes sent by /login. Only a keyed hash of the code is kept. `message_id` is the /login
-- message that asked for it, so a retried turn does not send a second email.
CREATE TABLE login_codes (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    guest_address TEXT NOT NULL,
    email         TEXT NOT NULL,
    code_hash     TEXT NOT NULL,
    message_id    TEXT NOT NULL UNIQUE,
    state         TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'used', 'spent', 'replaced', 'unsent')),
    attempts      BIGINT NOT NULL DEFAULT 0,
    consumed_by   TEXT,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX login_codes_guest ON login_codes (org_id, guest_address, created_at);
CREATE INDEX login_codes_email ON login_codes (org_id, email, created_at);

-- Requests to talk to an agent: an email address not on its shared list ('email'), or a new
-- sender under onboarding ('number', its subject the guest's address). One per subject: a
-- denied request stays denied until someone approves it.
CREATE TABLE access_requests (
    id              TEXT PRIMARY KEY,
    agent_id        TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('email', 'number')),
    subject         TEXT NOT NULL,
    guest_address   TEXT NOT NULL,
    guest_name      TEXT,
    conversation_id TEXT,
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'denied')),
    created_at      BIGINT NOT NULL,
    decided_at      BIGINT,
    decided_by      TEXT,
    CONSTRAINT access_requests_subject_key UNIQUE (agent_id, kind, subject)
);
CREATE INDEX access_requests_agent ON access_requests (agent_id, state, created_at);

-- Who wrote a message when not the guest or the agent's brain: 'command' (a guest's /login,
-- /whoami…, handled by Switchboard) or 'switchboard' (its answers and access prompts). The
-- brain's history leaves them out.
ALTER TABLE messages ADD COLUMN origin TEXT;
