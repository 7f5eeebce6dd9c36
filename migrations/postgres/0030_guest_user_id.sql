-- WhatsApp usernames (2026): a guest may be known by a business-scoped user id (BSUID, Twilio's
-- `ExternalUserId`) besides, or instead of, a phone number. A conversation keeps the id it has seen,
-- so the guest stays one conversation when their phone number is hidden or appears; `guest_address`
-- stays where replies go: exactly the last `From` Twilio gave.
ALTER TABLE conversations ADD COLUMN guest_user_id TEXT;
CREATE UNIQUE INDEX conversations_guest_user ON conversations (number_id, guest_user_id)
    WHERE guest_user_id IS NOT NULL;
