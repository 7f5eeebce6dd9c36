-- Agents, complete: what they are for, how they greet, and which brain they think with.
-- Secrets (the LLM API key, the hook's signing secret) are sealed like Auth Tokens, bound to the agent's id.
ALTER TABLE agents ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE agents ADD COLUMN instructions TEXT NOT NULL DEFAULT '';
ALTER TABLE agents ADD COLUMN welcome_message TEXT;
ALTER TABLE agents ADD COLUMN brain TEXT NOT NULL DEFAULT 'faq' CHECK (brain IN ('faq', 'openai', 'hook'));
ALTER TABLE agents ADD COLUMN brain_url TEXT;          -- the OpenAI-compatible base URL, or the hook's URL
ALTER TABLE agents ADD COLUMN llm_model TEXT;
ALTER TABLE agents ADD COLUMN llm_api_key_enc BLOB;
ALTER TABLE agents ADD COLUMN hook_secret_enc BLOB;
ALTER TABLE agents ADD COLUMN brain_timeout_secs BIGINT;
ALTER TABLE agents ADD COLUMN owner_id TEXT REFERENCES users (id) ON DELETE SET NULL;
