-- A channel's routes. Inbound: only messages from this number reach the agent (others are
-- stored and acknowledged). Outbound: the agent's replies go to this fixed number instead of
-- the guest who wrote.
ALTER TABLE channels ADD COLUMN inbound_from TEXT;
ALTER TABLE channels ADD COLUMN outbound_to TEXT;
