-- The WhatsApp sandbox, added by hand to a connector: the message testers send to join it.
ALTER TABLE numbers ADD COLUMN sandbox_join TEXT;
