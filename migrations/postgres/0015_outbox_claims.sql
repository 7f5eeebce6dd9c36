-- A send's claims and its attempts are two counts: `claims` fences each worker's lease (a
-- claim that puts a send back because the number's rate is full is not an attempt), and
-- `attempts` counts the requests made to Twilio, which backoff grows with.
ALTER TABLE outbox ADD COLUMN claims BIGINT NOT NULL DEFAULT 0;
UPDATE outbox SET claims = attempts;
