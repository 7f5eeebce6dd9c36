-- The search index is written after the webhook's transaction, in batches, instead of inside it
-- (0019's triggers cost the webhook path about a tenth of its throughput). Writing a message now
-- only queues its rowid; the indexer (src/inbox/search.rs) moves queued messages into the index,
-- every second and before every search. A message rewritten or deleted leaves the index at once
-- if it was indexed (its old words, as indexed); if it was still queued, the indexer reads its
-- text as it is then, or finds it gone from the queue.
DROP TRIGGER message_search_insert;
DROP TRIGGER message_search_delete;
DROP TRIGGER message_search_update;
CREATE TABLE search_queue (message_rowid INTEGER PRIMARY KEY);
CREATE TRIGGER message_search_insert AFTER INSERT ON messages BEGIN
    INSERT OR IGNORE INTO search_queue (message_rowid) VALUES (new.rowid);
END;
CREATE TRIGGER message_search_delete AFTER DELETE ON messages BEGIN
    INSERT INTO message_search (message_search, rowid, body)
        SELECT 'delete', old.rowid, old.body
        WHERE NOT EXISTS (SELECT 1 FROM search_queue WHERE message_rowid = old.rowid);
    DELETE FROM search_queue WHERE message_rowid = old.rowid;
END;
CREATE TRIGGER message_search_update AFTER UPDATE OF body ON messages WHEN old.body IS NOT new.body BEGIN
    INSERT INTO message_search (message_search, rowid, body)
        SELECT 'delete', old.rowid, old.body
        WHERE NOT EXISTS (SELECT 1 FROM search_queue WHERE message_rowid = old.rowid);
    INSERT OR IGNORE INTO search_queue (message_rowid) VALUES (new.rowid);
END;
