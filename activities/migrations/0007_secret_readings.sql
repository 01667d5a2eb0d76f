-- Every time a member of staff reads the parts of an application that the applicant marked as
-- business secrets (OSL 30 kap. 23 §): who, when, which case and which parts. Auditors and
-- administrators read this log; it holds no content, only that a reading happened.
CREATE TABLE secret_readings (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_number text NOT NULL REFERENCES cases (case_number),
    reader_id text NOT NULL,
    reader_role text NOT NULL,
    read_at timestamptz NOT NULL DEFAULT now(),
    sections text[] NOT NULL CHECK (cardinality(sections) > 0)
);

CREATE INDEX secret_readings_case ON secret_readings (case_number, read_at);
