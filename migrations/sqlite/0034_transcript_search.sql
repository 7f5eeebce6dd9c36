-- A voice note's transcript is found by the inbox's search as the messages' text is: a full-text
-- index of the transcripts (words, whatever their case and accents), over the media rows that
-- hold them (external content: the text is not stored twice). Transcripts are written by the turn,
-- after the webhook's transaction, and are few beside the messages: triggers keep the index in
-- step at once.
CREATE VIRTUAL TABLE transcript_search USING fts5(
    transcript,
    content = 'media',
    content_rowid = 'rowid',
    columnsize = 0,
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO transcript_search (rowid, transcript) SELECT rowid, transcript FROM media WHERE transcript IS NOT NULL;
CREATE TRIGGER transcript_search_insert AFTER INSERT ON media WHEN new.transcript IS NOT NULL BEGIN
    INSERT INTO transcript_search (rowid, transcript) VALUES (new.rowid, new.transcript);
END;
CREATE TRIGGER transcript_search_update AFTER UPDATE OF transcript ON media
    WHEN old.transcript IS NOT new.transcript BEGIN
    INSERT INTO transcript_search (transcript_search, rowid, transcript)
        SELECT 'delete', old.rowid, old.transcript WHERE old.transcript IS NOT NULL;
    INSERT INTO transcript_search (rowid, transcript) SELECT new.rowid, new.transcript WHERE new.transcript IS NOT NULL;
END;
CREATE TRIGGER transcript_search_delete AFTER DELETE ON media WHEN old.transcript IS NOT NULL BEGIN
    INSERT INTO transcript_search (transcript_search, rowid, transcript) VALUES ('delete', old.rowid, old.transcript);
END;
