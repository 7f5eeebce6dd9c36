-- The full-text indexes' segments are merged by the indexer, a few pages per transaction of its
-- own (src/inbox/search.rs), instead of by whichever write crosses FTS5's threshold: left to
-- FTS5 (`automerge`), a merge ran inside a webhook batch, an indexing batch or a retention batch
-- and held SQLite's write turn for 50-120 ms however small that transaction was. Crisis merges
-- (16 segments on a level) stay FTS5's: the indexer keeps every level well below that.
INSERT INTO message_search (message_search, rank) VALUES ('automerge', 0);
INSERT INTO guest_search (guest_search, rank) VALUES ('automerge', 0);
