-- The Switchboard processes running on this database, each seen every few seconds: commands
-- that must not run beside a live instance (rotating the master key) look here first.
CREATE TABLE instances (
    id          TEXT PRIMARY KEY,
    started_at  BIGINT NOT NULL,
    seen_at     BIGINT NOT NULL
);
