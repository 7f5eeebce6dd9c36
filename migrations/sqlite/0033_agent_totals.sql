-- How many conversations each agent has (the REST API's `X-Total-Count`, and whether its pages
-- walk each state's order), kept instead of counted on every page: counting half a million
-- conversations took most of a page's 50 ms. Each conversation that comes to an agent adds a row
-- of +1, each that leaves (deleted, or moved to another agent with its number's channel, or its
-- agent deleted) a row of -1; an agent's total is their sum. Rows are only ever added by writers,
-- never updated, so writers of two instances never wait on one another here; the lifecycle
-- worker folds each agent's rows into one (src/inbox/lifecycle.rs).
CREATE TABLE agent_totals (
    agent_id  TEXT NOT NULL,
    n         BIGINT NOT NULL
);
CREATE INDEX agent_totals_agent ON agent_totals (agent_id);

CREATE TRIGGER agent_totals_insert AFTER INSERT ON conversations WHEN new.agent_id IS NOT NULL BEGIN
    INSERT INTO agent_totals (agent_id, n) VALUES (new.agent_id, 1);
END;
CREATE TRIGGER agent_totals_delete AFTER DELETE ON conversations WHEN old.agent_id IS NOT NULL BEGIN
    INSERT INTO agent_totals (agent_id, n) VALUES (old.agent_id, -1);
END;
CREATE TRIGGER agent_totals_move AFTER UPDATE OF agent_id ON conversations
    WHEN old.agent_id IS NOT new.agent_id BEGIN
    INSERT INTO agent_totals (agent_id, n) SELECT old.agent_id, -1 WHERE old.agent_id IS NOT NULL;
    INSERT INTO agent_totals (agent_id, n) SELECT new.agent_id, 1 WHERE new.agent_id IS NOT NULL;
END;

INSERT INTO agent_totals (agent_id, n)
    SELECT agent_id, COUNT(*) FROM conversations WHERE agent_id IS NOT NULL GROUP BY agent_id;
