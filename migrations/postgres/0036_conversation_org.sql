-- The organization each conversation is of, kept on the conversation, and the inbox's list read
-- along an index of each organization's conversations by state and activity. The list used to walk
-- the index of every organization's conversations and skip the others': a small organization on
-- an instance another fills read past all of the other's to fill a page. A conversation's number
-- (and so its organization) never changes; a trigger fills it in whoever writes the conversation.
ALTER TABLE conversations ADD COLUMN org_id TEXT;

CREATE FUNCTION switchboard_conversation_org() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.org_id := (SELECT c.org_id FROM numbers n JOIN connectors c ON c.id = n.connector_id WHERE n.id = NEW.number_id);
    RETURN NEW;
END
$$;
CREATE TRIGGER conversations_org BEFORE INSERT OR UPDATE OF number_id ON conversations
    FOR EACH ROW EXECUTE FUNCTION switchboard_conversation_org();

-- After the trigger, in the migration's transaction: a conversation written meanwhile waits for it.
UPDATE conversations cv SET org_id = c.org_id FROM numbers n JOIN connectors c ON c.id = n.connector_id
    WHERE n.id = cv.number_id;

CREATE INDEX conversations_org_state_activity ON conversations (org_id, state, last_activity_at, id);
