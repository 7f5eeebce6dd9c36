-- Finding a guest reads only its own organization's guests: the trigram indexes over the folded
-- number and name are keyed by the organization first (`btree_gin` lets a GIN index hold a plain
-- column beside the trigrams), so a search's organization and its text meet in the index. Over the
-- numbers and names alone, a small organization's search for a text another's guests hold often
-- (every guest of a hotel group shares its country code) read every one of those guests and left
-- all but its own: 62 ms for one guest's number among 505,000, 1.2 ms keyed.
--
-- Writes to conversations wait while the two indexes are built (5.5 s for 505,000 conversations);
-- building them, and dropping the old ones, first waits for the statements reading conversations
-- to end (an export can read for minutes): past a few seconds the start fails instead, and is
-- tried again by the next.
SET LOCAL lock_timeout = '5s';
CREATE EXTENSION IF NOT EXISTS btree_gin;
CREATE INDEX conversations_org_guest_address_trgm
    ON conversations USING gin (org_id, switchboard_fold(guest_address) gin_trgm_ops);
CREATE INDEX conversations_org_guest_name_trgm
    ON conversations USING gin (org_id, switchboard_fold(COALESCE(guest_name, '')) gin_trgm_ops);
DROP INDEX conversations_guest_address_trgm;
DROP INDEX conversations_guest_name_trgm;

-- Whether a search walks is decided from the planner's estimate of how many guests' numbers or
-- names hold the text (src/inbox/store/list.rs), which it reads from the values it keeps of the
-- folded numbers and names: a hundred by default, between which a text a fiftieth of the guests
-- hold may fall and be taken for a handful. Ten times as many (on 517,000 conversations the
-- estimate of "guest 123", held by 1,133 guests, went from 103 to 1,087; `ANALYZE` takes 7 s).
ALTER INDEX conversations_org_guest_address_trgm ALTER COLUMN 2 SET STATISTICS 1000;
ALTER INDEX conversations_org_guest_name_trgm ALTER COLUMN 2 SET STATISTICS 1000;
ANALYZE conversations;
