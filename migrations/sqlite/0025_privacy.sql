-- What an organization's people did, and guests' requests to be forgotten.
--
-- `audit_log`: one line per change an admin or an agent owner made in the backoffice or through the
-- REST API (connector credentials, webhooks, the key, channels, takeovers, exports, erasures), kept
-- with the organization. `actor` is the user's email (and the API token's name when it came through
-- the API); `subject` what it was done to (a connector's or an agent's name, a conversation's id);
-- `detail` a sentence. Never a secret, a guest's number, name, email or words: an erasure's line
-- says how much went, not whose.
CREATE TABLE audit_log (
    id       TEXT PRIMARY KEY,
    org_id   TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    at       BIGINT NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    subject  TEXT NOT NULL,
    detail   TEXT NOT NULL
);
CREATE INDEX audit_log_org ON audit_log (org_id, id);

-- A guest's `/forget`: carried out once an admin approves it (`approval`, the default), or at once
-- (`automatic`), after the reply that says so has gone out.
ALTER TABLE organizations ADD COLUMN forget_requests TEXT NOT NULL DEFAULT 'approval'
    CHECK (forget_requests IN ('approval', 'automatic'));

-- The requests. `guest_address` is emptied once the guest is forgotten (or the request declined);
-- what is left says when, and who decided.
CREATE TABLE forget_requests (
    id             TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    guest_address  TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'declined', 'done')),
    created_at     BIGINT NOT NULL,
    decided_at     BIGINT,
    decided_by     TEXT,
    done_at        BIGINT
);
CREATE INDEX forget_requests_org ON forget_requests (org_id, state, id);

-- A message deleted (a guest forgotten) leaves the text index's stored segments too, not only its
-- answers: without this FTS5 keeps a deleted row's words in its segments until they are merged.
INSERT INTO message_search (message_search, rank) VALUES ('secure-delete', 1);
INSERT INTO guest_search (guest_search, rank) VALUES ('secure-delete', 1);
