-- no-transaction
-- The organization of the conversations written before migration 0036's trigger, 5,000 at a time
-- in the order of their ids, each batch committed on its own: one statement over every conversation
-- would hold their rows (and the webhooks of the guests who write meanwhile) until the last was
-- done. A batch chosen as a deadlock's victim beside a webhook's writes is done again. A migration
-- cut off part way is run again whole, and fills in what is still missing.
--
-- One statement, run outside a transaction (the line above): only so may the block commit.
DO $$
DECLARE
    done TEXT := '';
    batch TEXT[];
BEGIN
    LOOP
        batch := ARRAY(SELECT id FROM conversations WHERE id > done ORDER BY id LIMIT 5000);
        EXIT WHEN cardinality(batch) = 0;
        BEGIN
            UPDATE conversations cv SET org_id = c.org_id FROM numbers n JOIN connectors c ON c.id = n.connector_id
                WHERE cv.id = ANY(batch) AND cv.org_id IS NULL AND n.id = cv.number_id;
            done := batch[cardinality(batch)];
        EXCEPTION WHEN deadlock_detected OR lock_not_available THEN
            NULL;  -- the same batch again
        END;
        COMMIT;
    END LOOP;
END
$$;
