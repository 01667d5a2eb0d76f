-- What each submission through the API said, by its hash: a retried submission (the same
-- Idempotency-Key) must say the same, or it is refused instead of being answered with the case
-- of another application. Written before the intake starts; the first to arrive wins.
CREATE TABLE submissions (
    submission_id text PRIMARY KEY CHECK (length(submission_id) BETWEEN 1 AND 300),
    application_sha256 text NOT NULL CHECK (application_sha256 ~ '^[0-9a-f]{64}$'),
    received_at timestamptz NOT NULL DEFAULT now()
);
