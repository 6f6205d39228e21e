-- Booking (seed 002), part 2: reviews, the gallery, courses and course applications.

CREATE TABLE reviews (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    appointment_id uuid NOT NULL REFERENCES appointments (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expert_id uuid NOT NULL REFERENCES experts (id) ON DELETE CASCADE,
    service_id uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    rating smallint NOT NULL,
    comment text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT reviews_appointment_key UNIQUE (appointment_id),
    CONSTRAINT reviews_rating_range CHECK (rating BETWEEN 1 AND 5)
);
CREATE INDEX reviews_expert_idx ON reviews (expert_id, created_at DESC);
CREATE INDEX reviews_service_idx ON reviews (service_id, created_at DESC);

CREATE TABLE gallery (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    image_url text NOT NULL,
    caption text,
    expert_id uuid REFERENCES experts (id) ON DELETE SET NULL,
    service_id uuid REFERENCES services (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX gallery_created_idx ON gallery (created_at DESC, id);
CREATE INDEX gallery_expert_idx ON gallery (expert_id) WHERE expert_id IS NOT NULL;
CREATE INDEX gallery_service_idx ON gallery (service_id) WHERE service_id IS NOT NULL;

CREATE TABLE courses (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    title text NOT NULL,
    description text,
    price bigint NOT NULL,
    starts_on date NOT NULL,
    seats integer NOT NULL,
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT courses_title_length CHECK (char_length(title) BETWEEN 1 AND 200),
    CONSTRAINT courses_price_positive CHECK (price >= 0),
    CONSTRAINT courses_seats_positive CHECK (seats > 0)
);

CREATE TABLE course_applications (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    course_id uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    message text,
    status text NOT NULL DEFAULT 'pending',
    decided_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT course_applications_once UNIQUE (course_id, user_id),
    CONSTRAINT course_applications_status_known CHECK (status IN ('pending', 'approved', 'rejected'))
);
CREATE INDEX course_applications_user_idx ON course_applications (user_id, created_at DESC);
CREATE INDEX course_applications_course_idx ON course_applications (course_id, status);
