-- The organization each conversation is of, kept on the conversation, and the inbox's list read
-- along an index of each organization's conversations by state and activity. The list used to walk
-- the index of every organization's conversations and skip the others': a small organization on
-- an instance another fills read past all of the other's to fill a page. A conversation's number
-- (and so its organization) never changes; a trigger fills it in whoever writes the conversation.
ALTER TABLE conversations ADD COLUMN org_id TEXT;

UPDATE conversations SET org_id =
    (SELECT c.org_id FROM numbers n JOIN connectors c ON c.id = n.connector_id WHERE n.id = conversations.number_id);

CREATE TRIGGER conversations_org_insert AFTER INSERT ON conversations BEGIN
    UPDATE conversations SET org_id =
        (SELECT c.org_id FROM numbers n JOIN connectors c ON c.id = n.connector_id WHERE n.id = new.number_id)
        WHERE rowid = new.rowid;
END;
CREATE TRIGGER conversations_org_number AFTER UPDATE OF number_id ON conversations BEGIN
    UPDATE conversations SET org_id =
        (SELECT c.org_id FROM numbers n JOIN connectors c ON c.id = n.connector_id WHERE n.id = new.number_id)
        WHERE rowid = new.rowid;
END;

CREATE INDEX conversations_org_state_activity ON conversations (org_id, state, last_activity_at, id);
