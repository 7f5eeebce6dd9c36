-- The text index keys each word by the message's connector (`<connector>:<word>`), so that a
-- search reads only its own organization's messages, and the planner's statistics of the index
-- tell how often each organization uses a word. With the words alone, a search counted and
-- gathered every organization's messages, and an organization with few messages holding a word
-- others use often walked all of its conversations looking for them. Writes to messages wait
-- while the index is built (minutes at ten million messages; see migration 0038 on why not
-- concurrently).

-- A message's words as the index holds them. The text search configuration is named in the
-- function's text: its search path is the one the migration ran with, whoever builds the index.
-- PL/pgSQL keeps the function's plan for the session: as an SQL function it was planned again for
-- every statement that inserts a message (40 µs more a message than this, on the machine of
-- docs/performance.md).
CREATE FUNCTION switchboard_search_words(connector text, body text) RETURNS tsvector
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE STRICT
    SET search_path FROM CURRENT
    AS $$
    BEGIN
        RETURN array_to_tsvector(ARRAY(
            SELECT connector || ':' || word
            FROM unnest(tsvector_to_array(to_tsvector('switchboard_search', body))) AS word
            -- The longest word an index entry holds (as `to_tsvector` leaves out longer ones).
            WHERE octet_length(connector || ':' || word) < 2048));
    END
    $$;

-- A query of words (`to_tsquery`) asked of the messages of any of `connectors`: each word keyed by
-- each connector, one alternative a connector. No connector (an organization without one) asks
-- nothing; a query without words is asked as it is (it matches nothing). A word is quoted in the
-- query's text, a quote in it doubled (`unaccent` turns the letter ʻ into one: 'o''zbekiston').
CREATE FUNCTION switchboard_search_query(connectors text[], words tsquery) RETURNS tsquery
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$
        SELECT CASE WHEN numnode(words) = 0 THEN words ELSE (
            SELECT string_agg(
                '(' || regexp_replace(words::text, '''((?:[^'']|'''')*)''', '''' || connector || ':\1''', 'g') || ')',
                ' | ')::tsquery
            FROM unnest(connectors) AS connector)
        END
    $$;

CREATE INDEX messages_search_by_connector ON messages USING gin (switchboard_search_words(connector_id, body));
-- A search reads its organization's connectors.
CREATE INDEX connectors_org ON connectors (org_id);
DROP INDEX messages_search;
ANALYZE messages;
