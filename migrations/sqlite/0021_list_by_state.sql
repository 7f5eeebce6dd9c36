-- The inbox lists each state's conversations along this index and merges the two (ordered by last
-- activity, then id, as the list is): with the id in the index, neither read needs a sort, and a
-- page reads about as many rows as it shows however many conversations there are. The same
-- index, one column wider: the webhook path writes no more indexes than before.
DROP INDEX conversations_state_activity;
CREATE INDEX conversations_state_activity ON conversations (state, last_activity_at, id);
