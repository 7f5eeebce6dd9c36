-- Search in the messages' text without reading every message: a full-text index over their
-- bodies (words, whatever their case and accents). The index is on an expression, so PostgreSQL
-- keeps it in step with every write and nothing is stored twice. `unaccent` ships with
-- PostgreSQL (a trusted extension: the database's owner may create it).
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE TEXT SEARCH CONFIGURATION switchboard_search (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION switchboard_search
    ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part WITH unaccent, simple;
CREATE INDEX messages_search ON messages USING gin (to_tsvector('switchboard_search', body));
