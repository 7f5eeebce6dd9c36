-- The index of guests' numbers and names holds each guest's organization beside them, so that a
-- search counts and gathers only its own organization's guests: `organization : "…" AND
-- {address name} : "…"`. With the numbers and names alone, an organization few of whose guests
-- hold a text another's hold often (a country code) was told to walk, and walked every one of its
-- conversations looking for them.

-- Each organization's mark in the index: a private-use character (from U+F0001), three times, which
-- is one trigram. Kept, not computed from the rowid at each use: a rowid may change.
ALTER TABLE organizations ADD COLUMN search_mark INTEGER;
UPDATE organizations SET search_mark = 983041 + rowid % 65533;
CREATE TRIGGER organizations_search_mark AFTER INSERT ON organizations BEGIN
    UPDATE organizations SET search_mark = 983041 + new.rowid % 65533 WHERE rowid = new.rowid;
END;

DROP TABLE guest_search;
CREATE VIRTUAL TABLE guest_search USING fts5(
    organization, address, name, content = '', contentless_delete = 1, tokenize = 'trigram remove_diacritics 1'
);
-- As migrations 0025 and 0027 set them for the index this one replaces.
INSERT INTO guest_search (guest_search, rank) VALUES ('secure-delete', 1);
INSERT INTO guest_search (guest_search, rank) VALUES ('automerge', 0);
-- The guests indexed before, indexed anew (the queued ones wait for the indexer, which writes them
-- the same way: src/inbox/store/search.rs). A conversation without an organization is marked
-- U+F0000.
INSERT INTO guest_search (rowid, organization, address, name)
    SELECT g.rowid, char(COALESCE(o.search_mark, 983040), COALESCE(o.search_mark, 983040),
        COALESCE(o.search_mark, 983040)), g.guest_address, COALESCE(g.guest_name, '')
    FROM conversations g LEFT JOIN organizations o ON o.id = g.org_id
    WHERE g.rowid NOT IN (SELECT conversation_rowid FROM guest_queue);

-- A conversation whose number moves to another organization's connector (migration 0036's trigger
-- follows it) is indexed again, with its new organization. One just written is queued already.
DROP TRIGGER guest_search_update;
CREATE TRIGGER guest_search_update AFTER UPDATE OF guest_address, guest_name, org_id ON conversations
    WHEN old.guest_address IS NOT new.guest_address OR old.guest_name IS NOT new.guest_name
        OR (old.org_id IS NOT NULL AND old.org_id IS NOT new.org_id) BEGIN
    DELETE FROM guest_search WHERE rowid = old.rowid;
    INSERT INTO guest_queue (conversation_rowid) SELECT new.rowid
        WHERE NOT EXISTS (SELECT 1 FROM guest_queue WHERE conversation_rowid = new.rowid);
END;
