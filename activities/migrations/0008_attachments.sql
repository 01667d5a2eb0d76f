-- The files an applicant sends with an application through the API, byte for byte.
--
-- Kept in the register's database, beside the case they belong to, rather than in a data directory:
-- they are part of the case's record (backed up, kept and archived with it, readable by every process
-- of the installation), and at most 10 MB come with one application. They never travel through
-- Temporal: a workflow's payloads are limited to a few MB and its history is not a file store. The
-- form names each file with its SHA-256, and that is what the case carries.
--
-- Keyed by the submission, not the case: the files are stored before the intake allocates the case
-- number, so that a case never exists without the files its form names. The case is found through
-- cases.submission_id. A submission sent again stores nothing more.
CREATE TABLE attachments (
    submission_id text NOT NULL CHECK (length(submission_id) BETWEEN 1 AND 300),
    position int NOT NULL CHECK (position >= 0),  -- its index in the form's attachments
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 300),
    kind text NOT NULL,
    sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    media_type text,
    size int NOT NULL CHECK (size >= 0),
    content bytea NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (submission_id, position),
    CHECK (octet_length(content) = size)
);
