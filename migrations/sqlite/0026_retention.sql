-- How long the organization keeps its guests' messages, execution records and media, in days
-- (none: until deleted by hand); an agent may have its own period, which its conversations follow
-- instead. A background job deletes what is older, a few hundred messages per transaction; a
-- conversation left without messages goes with them. The dashboard's counts of past days stay.
ALTER TABLE organizations ADD COLUMN retention_days BIGINT;
ALTER TABLE agents ADD COLUMN retention_days BIGINT;
