-- Every inbound message rewrites its conversation's last activity, and every index on it is
-- written again with it: keep only the one the inbox pages and the lifecycle sweep need, and no
-- index on the messages' creation time (the dashboard reads it through the conversations).
DROP INDEX conversations_agent_activity;
DROP INDEX messages_created;
