-- How many conversations each agent has (the REST API's `X-Total-Count`, and whether its pages
-- walk each state's order), kept instead of counted on every page: counting half a million
-- conversations took most of a page's 50 ms. Each conversation that comes to an agent adds a row
-- of +1, each that leaves (deleted, or moved to another agent with its number's channel, or its
-- agent deleted) a row of -1; an agent's total is their sum. Rows are only ever added by writers,
-- never updated, so writers of two instances never wait on one another here (a kept count per
-- agent would be a row every webhook batch that starts a conversation locks); the lifecycle
-- worker folds each agent's rows into one (src/inbox/lifecycle.rs).
CREATE TABLE agent_totals (
    agent_id  TEXT NOT NULL,
    n         BIGINT NOT NULL
);
CREATE INDEX agent_totals_agent ON agent_totals (agent_id);

CREATE FUNCTION switchboard_agent_totals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.agent_id IS NOT NULL THEN
        INSERT INTO agent_totals (agent_id, n) VALUES (OLD.agent_id, -1);
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.agent_id IS NOT NULL THEN
        INSERT INTO agent_totals (agent_id, n) VALUES (NEW.agent_id, 1);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER agent_totals_insert AFTER INSERT ON conversations
    FOR EACH ROW WHEN (NEW.agent_id IS NOT NULL) EXECUTE FUNCTION switchboard_agent_totals();
CREATE TRIGGER agent_totals_delete AFTER DELETE ON conversations
    FOR EACH ROW WHEN (OLD.agent_id IS NOT NULL) EXECUTE FUNCTION switchboard_agent_totals();
CREATE TRIGGER agent_totals_move AFTER UPDATE OF agent_id ON conversations
    FOR EACH ROW WHEN (OLD.agent_id IS DISTINCT FROM NEW.agent_id) EXECUTE FUNCTION switchboard_agent_totals();

-- After the triggers, in the migration's transaction: a conversation written meanwhile waits for
-- it, and is counted once.
INSERT INTO agent_totals (agent_id, n)
    SELECT agent_id, COUNT(*) FROM conversations WHERE agent_id IS NOT NULL GROUP BY agent_id;
