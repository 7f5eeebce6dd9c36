-- The inbox pages by (last activity, id): every conversation has a last activity from the moment
-- it opens (a conversation opened for a proactive message or a route used to have none until its
-- first message was queued).
UPDATE conversations SET last_activity_at = created_at WHERE last_activity_at IS NULL;
