-- Every mail is a row first; the `email` job only wakes the worker up to send it.

CREATE TABLE mails (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    to_address text NOT NULL,
    subject text NOT NULL,
    body_text text NOT NULL,
    kind text NOT NULL,
    status text NOT NULL DEFAULT 'pending',
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    due_at timestamptz NOT NULL DEFAULT now(),
    -- Set while a worker sends it, so two workers never send the same mail at once.
    claimed_until timestamptz,
    sent_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT mails_status_known CHECK (status IN ('pending', 'sent', 'failed'))
);
CREATE INDEX mails_due_idx ON mails (due_at) WHERE status = 'pending';
