-- The text index holds each message's connector beside its words, so that a search reads only its
-- own organization's messages: `search_connector : ("…") AND body : (…)`. With the words alone, a
-- search counted and gathered every organization's messages, and an organization with few messages
-- holding a word others use often walked all of its conversations looking for them. The index is
-- built anew from the messages (1.4 s for 1.1 million), queued ones included.

-- The connector as the index holds it: its id behind a private-use character (U+E000), which the
-- index reads as a letter and a search never types (it reads only letters and digits), so that no
-- word typed, or begun, is a connector's.
ALTER TABLE messages ADD COLUMN search_connector TEXT GENERATED ALWAYS AS (char(57344) || connector_id) VIRTUAL;

DROP TABLE message_search_terms;
DROP TABLE message_search;
CREATE VIRTUAL TABLE message_search USING fts5(
    body,
    search_connector,
    content = 'messages',
    content_rowid = 'rowid',
    columnsize = 0,
    tokenize = 'unicode61 remove_diacritics 2'
);
-- As migrations 0025 and 0027 set them for the index this one replaces.
INSERT INTO message_search (message_search, rank) VALUES ('secure-delete', 1);
INSERT INTO message_search (message_search, rank) VALUES ('automerge', 0);
INSERT INTO message_search (message_search) VALUES ('rebuild');
DELETE FROM search_queue;

-- Migration 0020's triggers, the connector given with the words a row held when it was indexed.
DROP TRIGGER message_search_delete;
DROP TRIGGER message_search_update;
CREATE TRIGGER message_search_delete AFTER DELETE ON messages BEGIN
    INSERT INTO message_search (message_search, rowid, body, search_connector)
        SELECT 'delete', old.rowid, old.body, old.search_connector
        WHERE NOT EXISTS (SELECT 1 FROM search_queue WHERE message_rowid = old.rowid);
    DELETE FROM search_queue WHERE message_rowid = old.rowid;
END;
CREATE TRIGGER message_search_update AFTER UPDATE OF body, connector_id ON messages
    WHEN old.body IS NOT new.body OR old.connector_id IS NOT new.connector_id BEGIN
    INSERT INTO message_search (message_search, rowid, body, search_connector)
        SELECT 'delete', old.rowid, old.body, old.search_connector
        WHERE NOT EXISTS (SELECT 1 FROM search_queue WHERE message_rowid = old.rowid);
    INSERT OR IGNORE INTO search_queue (message_rowid) VALUES (new.rowid);
END;

-- Migration 0028's words, each with the column it is in: a search spells out the words of the
-- messages' text only.
CREATE VIRTUAL TABLE message_search_terms USING fts5vocab(message_search, 'col');

-- A search reads its organization's connectors.
CREATE INDEX connectors_org ON connectors (org_id);
