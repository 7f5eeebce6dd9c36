-- Which instance holds each lease. A running instance renews the leases it holds every few
-- seconds (so a lease can be short and a dead instance's work is taken within seconds), and an
-- instance that starts again takes back at once what its previous run held when it died.
ALTER TABLE turns ADD COLUMN lease_owner TEXT;
ALTER TABLE outbox ADD COLUMN lease_owner TEXT;
ALTER TABLE media ADD COLUMN lease_owner TEXT;
CREATE INDEX turns_leased ON turns (lease_owner) WHERE lease_until IS NOT NULL;
CREATE INDEX outbox_leased ON outbox (lease_owner) WHERE lease_until IS NOT NULL;
CREATE INDEX media_leased ON media (lease_owner) WHERE lease_until IS NOT NULL;
