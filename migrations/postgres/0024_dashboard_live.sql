-- The dashboard's counts of the days that are not over yet, kept as messages are written instead
-- of counted from the messages on every view: messages in and out per day, failed replies per day
-- and error code, and the reply waits' histogram. Triggers keep them in the same transaction as
-- the message, whichever code path writes it. Rows are spread over 16 shards (the last character
-- of the message's id) so concurrent writers rarely wait on the same row; a view adds them up.
-- They go with their connector, as its messages do. `dashboard::rebuild_live` counts them again
-- from the messages (the server does on first start after this migration).
CREATE TABLE dashboard_live (
    connector_id  TEXT NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
    day           BIGINT NOT NULL,
    kind          TEXT NOT NULL,
    item          BIGINT NOT NULL,
    shard         TEXT NOT NULL,
    count         BIGINT NOT NULL,
    PRIMARY KEY (connector_id, day, kind, item, shard)
);
CREATE INDEX dashboard_live_day ON dashboard_live (day);

-- The reply waits' buckets, 5 % wide: bucket b (from 1) holds the waits of at least 1.05^(b-1)
-- milliseconds, `floor_ms` is that bound rounded up; bucket 0 is under a millisecond. The powers are
-- taken by repeated multiplication in double precision, as `dashboard::bucket` takes them.
CREATE TABLE wait_buckets (
    bucket    BIGINT PRIMARY KEY,
    floor_ms  BIGINT NOT NULL
);
CREATE INDEX wait_buckets_floor ON wait_buckets (floor_ms, bucket);
INSERT INTO wait_buckets (bucket, floor_ms)
WITH RECURSIVE p (bucket, power) AS (
    SELECT 1::bigint, 1.0::float8
    UNION ALL
    SELECT bucket + 1, power * 1.05::float8 FROM p WHERE bucket < 600
)
SELECT 0, 0
UNION ALL
SELECT bucket, ceil(power)::bigint FROM p;

-- When the counts were last rebuilt, and the first day they hold whole: every later day, and
-- every message written since. A day that is over is kept (`dashboard_counts`) from these counts
-- from that day on, from its messages before.
CREATE TABLE dashboard_live_state (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    rebuilt_at  BIGINT NOT NULL,
    from_day    BIGINT NOT NULL
);

-- A message in or out, on the day it was written; a failed reply by error code (0 for none); the
-- agent's reply gives the guest's messages since the previous reply their wait (on the day of the
-- guest's message; were a later reply stored already, by the clocks of two instances, their wait
-- moves from that one to this); a guest's message stored after a reply that answers it, its wait.
-- Plain statements, whose plans PL/pgSQL keeps from one call to the next.
CREATE FUNCTION switchboard_dashboard_message() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    this_day BIGINT := NEW.created_at / 86400000;
    this_shard TEXT := right(NEW.id, 1);
    previous BIGINT;
    later BIGINT;
BEGIN
    INSERT INTO dashboard_live (connector_id, day, kind, item, shard, count)
    VALUES (NEW.connector_id, this_day, NEW.direction, 0, this_shard, 1)
    ON CONFLICT (connector_id, day, kind, item, shard) DO UPDATE SET count = dashboard_live.count + 1;
    IF NEW.direction = 'outbound' AND NEW.status IN ('failed', 'undelivered') THEN
        INSERT INTO dashboard_live (connector_id, day, kind, item, shard, count)
        VALUES (NEW.connector_id, this_day, 'failure', COALESCE(NEW.error_code, 0), this_shard, 1)
        ON CONFLICT (connector_id, day, kind, item, shard) DO UPDATE SET count = dashboard_live.count + 1;
    END IF;
    IF NEW.origin IS NOT NULL THEN
        RETURN NULL;
    END IF;
    IF NEW.direction = 'outbound' THEN
        SELECT o.created_at INTO previous FROM messages o
        WHERE o.conversation_id = NEW.conversation_id AND o.created_at <= NEW.created_at
        AND o.direction = 'outbound' AND o.origin IS NULL AND o.id <> NEW.id
        ORDER BY o.created_at DESC LIMIT 1;
        SELECT o.created_at INTO later FROM messages o
        WHERE o.conversation_id = NEW.conversation_id AND o.created_at > NEW.created_at
        AND o.direction = 'outbound' AND o.origin IS NULL AND o.id <> NEW.id
        ORDER BY o.created_at LIMIT 1;
        INSERT INTO dashboard_live (connector_id, day, kind, item, shard, count)
        SELECT m.connector_id, m.created_at / 86400000, 'wait',
               (SELECT b.bucket FROM wait_buckets b WHERE b.floor_ms <= w.replied_at - m.created_at
                ORDER BY b.floor_ms DESC, b.bucket DESC LIMIT 1),
               this_shard, SUM(w.sign)
        FROM messages m
        CROSS JOIN (VALUES (1, NEW.created_at), (-1, later)) AS w (sign, replied_at)
        WHERE m.conversation_id = NEW.conversation_id AND m.created_at <= NEW.created_at
        AND m.created_at > COALESCE(previous, -1)
        AND m.direction = 'inbound' AND m.origin IS NULL AND w.replied_at IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5
        ON CONFLICT (connector_id, day, kind, item, shard) DO UPDATE SET count = dashboard_live.count + excluded.count;
    ELSE
        SELECT o.created_at INTO later FROM messages o
        WHERE o.conversation_id = NEW.conversation_id AND o.created_at >= NEW.created_at
        AND o.direction = 'outbound' AND o.origin IS NULL
        ORDER BY o.created_at LIMIT 1;
        IF later IS NOT NULL THEN
            INSERT INTO dashboard_live (connector_id, day, kind, item, shard, count)
            SELECT NEW.connector_id, this_day, 'wait', b.bucket, this_shard, 1 FROM wait_buckets b
            WHERE b.floor_ms <= later - NEW.created_at ORDER BY b.floor_ms DESC, b.bucket DESC LIMIT 1
            ON CONFLICT (connector_id, day, kind, item, shard) DO UPDATE SET count = dashboard_live.count + 1;
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER dashboard_live_message AFTER INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION switchboard_dashboard_message();

-- A reply's status that changes takes back the failure it replaces.
CREATE FUNCTION switchboard_dashboard_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IN ('failed', 'undelivered') THEN
        INSERT INTO dashboard_live (connector_id, day, kind, item, shard, count)
        VALUES (OLD.connector_id, OLD.created_at / 86400000, 'failure', COALESCE(OLD.error_code, 0), right(OLD.id, 1), -1)
        ON CONFLICT (connector_id, day, kind, item, shard) DO UPDATE SET count = dashboard_live.count - 1;
    END IF;
    IF NEW.status IN ('failed', 'undelivered') THEN
        INSERT INTO dashboard_live (connector_id, day, kind, item, shard, count)
        VALUES (NEW.connector_id, NEW.created_at / 86400000, 'failure', COALESCE(NEW.error_code, 0), right(NEW.id, 1), 1)
        ON CONFLICT (connector_id, day, kind, item, shard) DO UPDATE SET count = dashboard_live.count + 1;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER dashboard_live_status AFTER UPDATE OF status, error_code ON messages
    FOR EACH ROW
    WHEN (NEW.direction = 'outbound' AND (OLD.status IN ('failed', 'undelivered') OR NEW.status IN ('failed', 'undelivered')))
    EXECUTE FUNCTION switchboard_dashboard_status();
