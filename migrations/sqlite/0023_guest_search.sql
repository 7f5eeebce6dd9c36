-- Finding a guest by any part of their number or name (three characters or more, case and accents
-- aside) without reading every conversation: a trigram index of the guests. As the messages' index
-- (0020), it is written after the webhook's transaction: a new conversation only queues its rowid,
-- and the indexer (src/inbox/search.rs) moves the queue into the index, every second and before
-- every search. A guest renamed or a conversation deleted leaves the index at once. The messages
-- that only move a conversation's last activity write nothing here.
CREATE VIRTUAL TABLE guest_search USING fts5(
    address, name, content = '', contentless_delete = 1, tokenize = 'trigram remove_diacritics 1'
);
INSERT INTO guest_search (rowid, address, name)
    SELECT rowid, guest_address, COALESCE(guest_name, '') FROM conversations;
CREATE TABLE guest_queue (conversation_rowid INTEGER PRIMARY KEY);
-- (`NOT EXISTS` rather than `INSERT OR IGNORE`: the webhook's upsert of a conversation sets the
-- conflict policy of what its triggers insert, so `OR IGNORE` would not hold there.)

CREATE TRIGGER guest_search_insert AFTER INSERT ON conversations BEGIN
    INSERT INTO guest_queue (conversation_rowid) SELECT new.rowid
        WHERE NOT EXISTS (SELECT 1 FROM guest_queue WHERE conversation_rowid = new.rowid);
END;
CREATE TRIGGER guest_search_update AFTER UPDATE OF guest_address, guest_name ON conversations
    WHEN old.guest_address IS NOT new.guest_address OR old.guest_name IS NOT new.guest_name BEGIN
    DELETE FROM guest_search WHERE rowid = old.rowid;
    INSERT INTO guest_queue (conversation_rowid) SELECT new.rowid
        WHERE NOT EXISTS (SELECT 1 FROM guest_queue WHERE conversation_rowid = new.rowid);
END;
CREATE TRIGGER guest_search_delete AFTER DELETE ON conversations BEGIN
    DELETE FROM guest_search WHERE rowid = old.rowid;
    DELETE FROM guest_queue WHERE conversation_rowid = old.rowid;
END;
