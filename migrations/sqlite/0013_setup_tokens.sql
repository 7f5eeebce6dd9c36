-- One-time tokens that let the first organization be created from the setup page. Each
-- instance that starts while no organization exists adds the hash of the token it prints;
-- setup accepts any of them and deletes them all.
CREATE TABLE setup_tokens (
    token_hash  TEXT PRIMARY KEY,
    created_at  BIGINT NOT NULL
);
