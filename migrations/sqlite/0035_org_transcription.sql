-- The organization's transcription API (src/agents/senses.rs): every agent without its own
-- transcribes guests' voice notes through it, unless the agent never transcribes them
-- (`transcribe_off`); its key sealed like the agents' keys.
ALTER TABLE organizations ADD COLUMN transcribe_url TEXT;
ALTER TABLE organizations ADD COLUMN transcribe_model TEXT;
ALTER TABLE organizations ADD COLUMN transcribe_key_enc BLOB;
ALTER TABLE agents ADD COLUMN transcribe_off BIGINT NOT NULL DEFAULT 0;
