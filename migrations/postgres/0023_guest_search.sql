-- Finding a guest by any part of their number or name (three characters or more, case and accents
-- aside) without reading every conversation: trigram indexes over the folded number and name serve
-- the inbox's `LIKE '%…%'`. `switchboard_fold` is the folding (lower case, no accents) as an
-- immutable function, which an index needs; `unaccent` is migration 0019's.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE FUNCTION switchboard_fold(text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path FROM CURRENT
    AS $$ SELECT lower(unaccent('unaccent'::regdictionary, $1)) $$;
CREATE INDEX conversations_guest_address_trgm ON conversations USING gin (switchboard_fold(guest_address) gin_trgm_ops);
CREATE INDEX conversations_guest_name_trgm
    ON conversations USING gin (switchboard_fold(COALESCE(guest_name, '')) gin_trgm_ops);
