-- Choices an agent offers with a reply (src/brain/choices.rs): up to three buttons or a list of up
-- to ten items, as JSON on the outbound message.
ALTER TABLE messages ADD COLUMN choices TEXT;
-- The Content Switchboard created in a connector's Twilio account to send choices on WhatsApp
-- (twilio/quick-reply, twilio/list-picker), by the SHA-256 of its definition: created once, reused.
CREATE TABLE twilio_contents (
    connector_id TEXT NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
    hash         TEXT NOT NULL,
    sid          TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (connector_id, hash)
);
