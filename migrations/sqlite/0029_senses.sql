-- What an agent perceives of the files guests send (src/agents/senses.rs): voice notes transcribed
-- through an OpenAI-compatible /audio/transcriptions API (its key sealed like the brain's), photos
-- shown to an OpenAI-compatible model as a link or inline ('off': said in words).
ALTER TABLE agents ADD COLUMN transcribe_url TEXT;
ALTER TABLE agents ADD COLUMN transcribe_model TEXT;
ALTER TABLE agents ADD COLUMN transcribe_key_enc BLOB;
ALTER TABLE agents ADD COLUMN image_input TEXT NOT NULL DEFAULT 'off';
-- A voice note's transcript, or why it has none (kept with the file; it goes with it).
ALTER TABLE media ADD COLUMN transcript TEXT;
ALTER TABLE media ADD COLUMN transcript_error TEXT;
