-- The index keeps no word's position (migration 0039's `switchboard_search_words`), and against
-- words without positions a phrase matches nothing: a word PostgreSQL's parser reads as several
-- (`40m²h` is `'40m' <-> 'h'`, a superscript digit separating them) found no message. Asked of
-- the index, a phrase is asked as its words, all of them; the search checks each message found
-- against the phrase in its text (`crate::inbox::store::list`). A query's operators are written
-- between spaces, and no word holds a space.
CREATE OR REPLACE FUNCTION switchboard_search_query(connectors text[], words tsquery) RETURNS tsquery
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$
        SELECT CASE WHEN numnode(words) = 0 THEN words ELSE (
            SELECT string_agg(
                '(' || regexp_replace(
                    regexp_replace(words::text, ' <(?:-|[0-9]+)> ', ' & ', 'g'),
                    '''((?:[^'']|'''')*)''', '''' || connector || ':\1''', 'g') || ')',
                ' | ')::tsquery
            FROM unnest(connectors) AS connector)
        END
    $$;
