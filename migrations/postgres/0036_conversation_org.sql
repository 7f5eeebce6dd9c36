-- The organization each conversation is of, kept on the conversation, and the inbox's list read
-- along an index of each organization's conversations by state and activity. The list used to walk
-- the index of every organization's conversations and skip the others': a small organization on
-- an instance another fills read past all of the other's to fill a page. A conversation's number
-- (and so its organization) never changes; a trigger fills it in whoever writes the conversation.
--
-- In three steps, so that instances still running on the database keep storing webhooks while it
-- migrates: the column (no rewrite) and its trigger here; the conversations written before it
-- filled in a batch at a time (0037); the index (0038).
--
-- Adding the column waits for every statement reading conversations to end, and every write to
-- them waits behind it meanwhile (an export can read for minutes): past a few seconds the start
-- fails instead, and is tried again by the next.
SET LOCAL lock_timeout = '5s';

ALTER TABLE conversations ADD COLUMN org_id TEXT;

CREATE FUNCTION switchboard_conversation_org() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.org_id := (SELECT c.org_id FROM numbers n JOIN connectors c ON c.id = n.connector_id WHERE n.id = NEW.number_id);
    RETURN NEW;
END
$$;
CREATE TRIGGER conversations_org BEFORE INSERT OR UPDATE OF number_id ON conversations
    FOR EACH ROW EXECUTE FUNCTION switchboard_conversation_org();
