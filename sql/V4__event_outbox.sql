-- Events are written here in the same transaction as the change they announce; the relay moves
-- them onto the Redis stream `events` in order and deletes them once Redis has them.

CREATE TABLE event_outbox (
    seq bigserial PRIMARY KEY,
    -- Carried onto the stream, so that a relay taking over can tell which rows are already there.
    uid uuid NOT NULL DEFAULT gen_random_uuid(),
    topic text NOT NULL,
    name text NOT NULL,
    -- JSON text, relayed byte for byte.
    data text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- A relay taking over deletes the rows it finds already on the stream, by uid.
CREATE INDEX event_outbox_uid_idx ON event_outbox (uid);

-- Wakes the relay at commit (NOTIFY is delivered only when the transaction commits).
CREATE FUNCTION event_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('hub_events', '');
    RETURN NULL;
END $$;

CREATE TRIGGER event_outbox_notify AFTER INSERT ON event_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION event_outbox_notify();
