-- The words the full-text index holds, in order (a view of the index: nothing more is stored). A
-- search that walks the inbox's list spells out the words its last, begun word starts, so that
-- the index can be asked about one message at a time with whole words only.
CREATE VIRTUAL TABLE message_search_terms USING fts5vocab(message_search, 'row');
