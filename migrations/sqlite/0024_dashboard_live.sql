-- The dashboard's counts of the days that are not over yet, kept as messages are written instead
-- of counted from the messages on every view: messages in and out per day, failed replies per day
-- and error code, and the reply waits' histogram. Triggers keep them in the same transaction as
-- the message, whichever code path writes it. Rows are spread over 16 shards (the last character
-- of the message's id) so concurrent writers on PostgreSQL rarely wait on the same row; a view
-- adds them up. They go with their connector, as its messages do. `dashboard::rebuild_live`
-- counts them again from the messages (the server does on first start after this migration).
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
    SELECT 1, CAST(1.0 AS REAL)
    UNION ALL
    SELECT bucket + 1, power * 1.05 FROM p WHERE bucket < 600
)
SELECT 0, 0
UNION ALL
SELECT bucket, CAST(power AS INTEGER) + (power > CAST(power AS INTEGER)) FROM p;

-- When the counts were last rebuilt, and the first day they hold whole: every later day, and
-- every message written since. A day that is over is kept (`dashboard_counts`) from these counts
-- from that day on, from its messages before.
CREATE TABLE dashboard_live_state (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    rebuilt_at  BIGINT NOT NULL,
    from_day    BIGINT NOT NULL
);

-- A message in or out, on the day it was written.
CREATE TRIGGER dashboard_live_message AFTER INSERT ON messages
BEGIN
    INSERT INTO dashboard_live (connector_id, day, kind, item, shard, count)
    VALUES (NEW.connector_id, NEW.created_at / 86400000, NEW.direction, 0, substr(NEW.id, -1), 1)
    ON CONFLICT (connector_id, day, kind, item, shard) DO UPDATE SET count = dashboard_live.count + 1;
END;

-- A reply failed (or undelivered), by error code (0 for none), on the day it was written; a
-- status that changes takes back the failure it replaces.
CREATE TRIGGER dashboard_live_failed AFTER INSERT ON messages
WHEN NEW.direction = 'outbound' AND NEW.status IN ('failed', 'undelivered')
BEGIN
    INSERT INTO dashboard_live (connector_id, day, kind, item, shard, count)
    VALUES (NEW.connector_id, NEW.created_at / 86400000, 'failure', COALESCE(NEW.error_code, 0), substr(NEW.id, -1), 1)
    ON CONFLICT (connector_id, day, kind, item, shard) DO UPDATE SET count = dashboard_live.count + 1;
END;

CREATE TRIGGER dashboard_live_status AFTER UPDATE OF status, error_code ON messages
WHEN NEW.direction = 'outbound'
    AND (OLD.status IN ('failed', 'undelivered') OR NEW.status IN ('failed', 'undelivered'))
BEGIN
    INSERT INTO dashboard_live (connector_id, day, kind, item, shard, count)
    SELECT OLD.connector_id, OLD.created_at / 86400000, 'failure', COALESCE(OLD.error_code, 0), substr(OLD.id, -1), -1
    WHERE OLD.status IN ('failed', 'undelivered')
    ON CONFLICT (connector_id, day, kind, item, shard) DO UPDATE SET count = dashboard_live.count + excluded.count;
    INSERT INTO dashboard_live (connector_id, day, kind, item, shard, count)
    SELECT NEW.connector_id, NEW.created_at / 86400000, 'failure', COALESCE(NEW.error_code, 0), substr(NEW.id, -1), 1
    WHERE NEW.status IN ('failed', 'undelivered')
    ON CONFLICT (connector_id, day, kind, item, shard) DO UPDATE SET count = dashboard_live.count + excluded.count;
END;

-- The agent's reply: the guest's messages since the previous reply get their wait (counted on
-- the day of the guest's message). Were a later reply stored already (clocks of two instances),
-- their wait moves from that one to this.
CREATE TRIGGER dashboard_live_reply AFTER INSERT ON messages
WHEN NEW.direction = 'outbound' AND NEW.origin IS NULL
BEGIN
    INSERT INTO dashboard_live (connector_id, day, kind, item, shard, count)
    SELECT m.connector_id, m.created_at / 86400000, 'wait',
           (SELECT b.bucket FROM wait_buckets b WHERE b.floor_ms <= r.replied_at - m.created_at
            ORDER BY b.floor_ms DESC, b.bucket DESC LIMIT 1),
           substr(NEW.id, -1), r.sign
    FROM messages m
    CROSS JOIN (
        SELECT 1 AS sign, NEW.created_at AS replied_at
        UNION ALL
        SELECT -1, (SELECT MIN(o.created_at) FROM messages o
                    WHERE o.conversation_id = NEW.conversation_id AND o.direction = 'outbound'
                    AND o.origin IS NULL AND o.id <> NEW.id AND o.created_at > NEW.created_at)
    ) r
    WHERE m.conversation_id = NEW.conversation_id AND m.direction = 'inbound' AND m.origin IS NULL
    AND m.created_at <= NEW.created_at
    AND m.created_at > COALESCE((SELECT o.created_at FROM messages o
                                 WHERE o.conversation_id = NEW.conversation_id AND o.direction = 'outbound'
                                 AND o.origin IS NULL AND o.id <> NEW.id AND o.created_at <= NEW.created_at
                                 ORDER BY o.created_at DESC LIMIT 1), -1)
    AND r.replied_at IS NOT NULL
    ON CONFLICT (connector_id, day, kind, item, shard) DO UPDATE SET count = dashboard_live.count + excluded.count;
END;

-- A guest's message stored after a reply that answers it (clocks of two instances): its wait.
CREATE TRIGGER dashboard_live_late_guest AFTER INSERT ON messages
WHEN NEW.direction = 'inbound' AND NEW.origin IS NULL
BEGIN
    INSERT INTO dashboard_live (connector_id, day, kind, item, shard, count)
    SELECT NEW.connector_id, NEW.created_at / 86400000, 'wait',
           (SELECT b.bucket FROM wait_buckets b WHERE b.floor_ms <= r.replied_at - NEW.created_at
            ORDER BY b.floor_ms DESC, b.bucket DESC LIMIT 1),
           substr(NEW.id, -1), 1
    FROM (SELECT MIN(o.created_at) AS replied_at FROM messages o
          WHERE o.conversation_id = NEW.conversation_id AND o.direction = 'outbound' AND o.origin IS NULL
          AND o.created_at >= NEW.created_at) r
    WHERE r.replied_at IS NOT NULL
    ON CONFLICT (connector_id, day, kind, item, shard) DO UPDATE SET count = dashboard_live.count + excluded.count;
END;
