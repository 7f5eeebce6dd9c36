-- The approved WhatsApp template an agent sends when the guest's 24-hour window is closed.
ALTER TABLE agents ADD COLUMN template_connector_id TEXT REFERENCES connectors (id) ON DELETE SET NULL;
ALTER TABLE agents ADD COLUMN template_sid TEXT;
ALTER TABLE agents ADD COLUMN template_name TEXT;
-- A JSON object of the template's variables, e.g. {"1": "there"}.
ALTER TABLE agents ADD COLUMN template_variables TEXT;
-- Set on an outbound message that went out as a template instead of free text.
ALTER TABLE messages ADD COLUMN template_sid TEXT;
