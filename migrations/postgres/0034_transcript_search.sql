-- A voice note's transcript is found by the inbox's search as the messages' text is: a full-text
-- index of the transcripts, over the media rows that hold one.
CREATE INDEX media_transcript_search ON media USING gin (to_tsvector('switchboard_search', transcript))
    WHERE transcript IS NOT NULL;
