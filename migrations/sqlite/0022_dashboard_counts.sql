-- The dashboard's counts of days that are over: messages in and out, reply waits (a histogram),
-- failed replies by error code, and a `sealed` row saying the day is counted. A day is counted
-- once from its messages, two days after it ends (late delivery statuses have come in by then),
-- and read from here afterwards, so a view reads a few rows per day instead of every message.
-- Rows deleted are counted again from the messages on the next view.
CREATE TABLE dashboard_counts (
    org_id  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    day     BIGINT NOT NULL,
    kind    TEXT NOT NULL,
    item    BIGINT NOT NULL,
    count   BIGINT NOT NULL,
    PRIMARY KEY (org_id, day, kind, item)
);
