-- Personal API tokens: shown once, stored as their SHA-256 (they are long random strings).
CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    CONSTRAINT api_tokens_hash_key UNIQUE (token_hash)
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- A message queued with a template (a proactive message through the API) goes as that template
-- whatever the window; its variables are a JSON object.
ALTER TABLE messages ADD COLUMN template_variables TEXT;
