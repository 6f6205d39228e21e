-- Domain monitoring (seed 001): brands, their domains, the checker's keys and scans.

CREATE TABLE brands (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL,
    code text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT brands_name_key UNIQUE (name),
    CONSTRAINT brands_code_key UNIQUE (code)
);

CREATE TABLE domains (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    domain text NOT NULL,
    brand_id uuid NOT NULL,
    note text,
    -- 'ada' (on the Nawala list), 'tidak ada' (accessible) or NULL (never checked).
    nawala_status text,
    nawala_blocked_id text,
    last_checked timestamptz,
    status_since timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT domains_domain_key UNIQUE (domain),
    CONSTRAINT domains_brand_id_fkey FOREIGN KEY (brand_id) REFERENCES brands (id) ON DELETE RESTRICT,
    CONSTRAINT domains_nawala_status_known CHECK (nawala_status IN ('ada', 'tidak ada'))
);
CREATE INDEX domains_brand_idx ON domains (brand_id);
CREATE INDEX domains_status_idx ON domains (nawala_status);
CREATE INDEX domains_created_at_idx ON domains (created_at DESC, id);

-- A batch posted by the checker; its results stay here until the worker has applied them.
CREATE TABLE scan_batches (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    scan_id text,
    state text NOT NULL DEFAULT 'queued',
    results jsonb NOT NULL,
    total integer NOT NULL,
    applied integer NOT NULL DEFAULT 0,
    changed integer NOT NULL DEFAULT 0,
    unknown integer NOT NULL DEFAULT 0,
    errors integer NOT NULL DEFAULT 0,
    failure text,
    attempts integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz,
    CONSTRAINT scan_batches_scan_id_key UNIQUE (scan_id),
    CONSTRAINT scan_batches_state_known CHECK (state IN ('queued', 'processing', 'done', 'failed'))
);
CREATE INDEX scan_batches_pending_idx ON scan_batches (created_at) WHERE state IN ('queued', 'processing');

-- Every result the checker reported, for a domain's history.
CREATE TABLE domain_scans (
    id bigserial PRIMARY KEY,
    domain_id uuid NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    batch_id uuid REFERENCES scan_batches (id) ON DELETE SET NULL,
    status text NOT NULL,
    checked_at timestamptz NOT NULL,
    detail jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT domain_scans_status_known CHECK (status IN ('blocked', 'accessible', 'error'))
);
CREATE INDEX domain_scans_domain_idx ON domain_scans (domain_id, checked_at DESC, id DESC);

-- Keys the checker authenticates with, stored only as SHA-256 digests.
CREATE TABLE checker_keys (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL,
    key_hash bytea NOT NULL,
    created_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at timestamptz,
    CONSTRAINT checker_keys_key_hash_key UNIQUE (key_hash)
);
