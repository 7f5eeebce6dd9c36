-- The contents made for an agent's choices are now one per shape of choices, every text a variable
-- (src/twilio/contents.rs), found by another hash: the ones kept per set of choices would never be
-- found again. The next reply with choices creates its shape's content.
DELETE FROM twilio_contents;
