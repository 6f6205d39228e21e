-- Booking (seed 002), part 1: the catalogue, experts, offers, appointments and notifications.
-- Money is an integer in the currency's smallest unit; times are UTC.

CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE categories (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL,
    display_order integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT categories_name_key UNIQUE (name),
    CONSTRAINT categories_name_length CHECK (char_length(name) BETWEEN 1 AND 100)
);

CREATE TABLE services (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    category_id uuid NOT NULL,
    name text NOT NULL,
    description text,
    price bigint NOT NULL,
    duration_minutes integer NOT NULL,
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT services_category_id_fkey FOREIGN KEY (category_id) REFERENCES categories (id),
    CONSTRAINT services_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
    CONSTRAINT services_price_positive CHECK (price >= 0),
    CONSTRAINT services_duration_range CHECK (duration_minutes BETWEEN 5 AND 720)
);
CREATE INDEX services_category_idx ON services (category_id);

CREATE TABLE sub_services (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    service_id uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    name text NOT NULL,
    price bigint NOT NULL,
    duration_minutes integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sub_services_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
    CONSTRAINT sub_services_price_positive CHECK (price >= 0),
    CONSTRAINT sub_services_duration_range CHECK (duration_minutes BETWEEN 0 AND 720)
);
CREATE INDEX sub_services_service_idx ON sub_services (service_id);

CREATE TABLE experts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL,
    bio text,
    image_url text,
    -- Kept with the reviews (part 2) in the same transaction.
    rating numeric(3, 2) NOT NULL DEFAULT 0,
    total_reviews integer NOT NULL DEFAULT 0,
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT experts_name_length CHECK (char_length(name) BETWEEN 1 AND 100)
);

CREATE TABLE expert_services (
    expert_id uuid NOT NULL REFERENCES experts (id) ON DELETE CASCADE,
    service_id uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    CONSTRAINT expert_services_pkey PRIMARY KEY (expert_id, service_id)
);
CREATE INDEX expert_services_service_idx ON expert_services (service_id);

CREATE TABLE offers (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    title text NOT NULL,
    description text,
    discount_percent integer NOT NULL,
    valid_from timestamptz NOT NULL,
    valid_to timestamptz NOT NULL,
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT offers_title_length CHECK (char_length(title) BETWEEN 1 AND 200),
    CONSTRAINT offers_discount_range CHECK (discount_percent BETWEEN 1 AND 100),
    CONSTRAINT offers_valid_order CHECK (valid_from < valid_to)
);

CREATE TABLE appointments (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    service_id uuid NOT NULL REFERENCES services (id),
    sub_service_id uuid REFERENCES sub_services (id) ON DELETE SET NULL,
    expert_id uuid NOT NULL REFERENCES experts (id),
    offer_id uuid REFERENCES offers (id) ON DELETE SET NULL,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    status text NOT NULL,
    payment_status text NOT NULL DEFAULT 'unpaid',
    total_price bigint NOT NULL,
    currency text NOT NULL,
    expires_at timestamptz,
    notes text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT appointments_status_known
        CHECK (status IN ('reserved', 'confirmed', 'completed', 'no_show', 'expired', 'cancelled')),
    CONSTRAINT appointments_payment_known CHECK (payment_status IN ('unpaid', 'paid')),
    CONSTRAINT appointments_time_order CHECK (ends_at > starts_at),
    CONSTRAINT appointments_price_positive CHECK (total_price >= 0),
    -- No double booking, in the database itself: two live appointments of one expert never overlap.
    CONSTRAINT appointments_no_overlap EXCLUDE USING gist (
        expert_id WITH =,
        tstzrange(starts_at, ends_at, '[)') WITH &&
    ) WHERE (status IN ('reserved', 'confirmed'))
);
CREATE INDEX appointments_user_idx ON appointments (user_id, created_at DESC);
CREATE INDEX appointments_starts_idx ON appointments (starts_at);
CREATE INDEX appointments_expert_starts_idx ON appointments (expert_id, starts_at);
CREATE INDEX appointments_due_idx ON appointments (expires_at)
    WHERE status = 'reserved' AND payment_status = 'unpaid';
-- For deleting a service (is it booked?) and the SET NULLs of sub-services and offers.
CREATE INDEX appointments_service_idx ON appointments (service_id);
CREATE INDEX appointments_sub_service_idx ON appointments (sub_service_id) WHERE sub_service_id IS NOT NULL;
CREATE INDEX appointments_offer_idx ON appointments (offer_id) WHERE offer_id IS NOT NULL;

-- The catalogue cache's generation: bumped in every catalogue write's transaction, so a cached
-- read keyed by it can never outlive the write, whatever happens to Redis.
CREATE TABLE cache_generations (
    name text PRIMARY KEY,
    generation bigint NOT NULL DEFAULT 0
);
INSERT INTO cache_generations (name) VALUES ('catalog');

CREATE TABLE notifications (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind text NOT NULL,
    title text NOT NULL,
    body text NOT NULL,
    data jsonb NOT NULL DEFAULT '{}',
    read_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_user_idx ON notifications (user_id, created_at DESC);
CREATE INDEX notifications_unread_idx ON notifications (user_id) WHERE read_at IS NULL;
