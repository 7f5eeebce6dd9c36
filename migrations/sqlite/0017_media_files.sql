-- The files of media kept in the database (SWITCHBOARD_MEDIA_STORE=database, the default with
-- PostgreSQL): every instance sharing the database serves every file.
CREATE TABLE media_files (
    media_id  TEXT PRIMARY KEY REFERENCES media (id) ON DELETE CASCADE,
    bytes     BLOB NOT NULL
);
