-- The officers' inbox reads the register (never Temporal's visibility store): what each case is
-- waiting for and by when, and the indexes its filters and its order need.
--
-- The register is public (0001): these columns say what is due in a case and when, never who
-- someone is. Free text is searched over the project title and the sender's name as the register
-- already shows them (a personnummer in them is masked before it gets here).

-- The deadlines the case is still waiting on, passed or not (domain/inbox.py): the nearest one
-- and its kind for the order and the overdue filter, and all of them, aligned, for the flags.
ALTER TABLE cases
    ADD COLUMN deadline_at timestamptz,
    ADD COLUMN deadline_kind text,
    ADD COLUMN deadline_kinds text[] NOT NULL DEFAULT '{}',
    ADD COLUMN deadline_ats timestamptz[] NOT NULL DEFAULT '{}',
    -- Since when a public-records request for the case has waited to be handled; NULL when none
    -- waits. Written by the records requests' own path. Such a case goes to the top of the inbox.
    ADD COLUMN records_pending_since timestamptz,
    ADD CONSTRAINT cases_deadlines_aligned CHECK (cardinality(deadline_kinds) = cardinality(deadline_ats)),
    ADD CONSTRAINT cases_deadline_kind CHECK ((deadline_at IS NULL) = (deadline_kind IS NULL));

-- The inbox's order, and its cursor: cases with a waiting records request first (oldest request
-- first), then by nearest deadline, cases without one last, the case number breaking ties. The
-- queries write these three expressions exactly so, to use the indexes.
CREATE INDEX cases_inbox ON cases (
    (records_pending_since IS NULL), (COALESCE(records_pending_since, deadline_at, 'infinity'::timestamptz)),
    case_number
);
CREATE INDEX cases_inbox_officer ON cases (
    officer, (records_pending_since IS NULL),
    (COALESCE(records_pending_since, deadline_at, 'infinity'::timestamptz)), case_number
);
CREATE INDEX cases_inbox_stage ON cases (
    stage, (records_pending_since IS NULL),
    (COALESCE(records_pending_since, deadline_at, 'infinity'::timestamptz)), case_number
);
CREATE INDEX cases_inbox_call ON cases (
    call_id, (records_pending_since IS NULL),
    (COALESCE(records_pending_since, deadline_at, 'infinity'::timestamptz)), case_number
);
-- Overdue, and due within N days.
CREATE INDEX cases_deadline_at ON cases (deadline_at) WHERE deadline_at IS NOT NULL;
CREATE INDEX cases_records_pending ON cases (records_pending_since) WHERE records_pending_since IS NOT NULL;
-- Amount applied for, from and to.
CREATE INDEX cases_requested_amount ON cases (requested_amount);
-- Free text: every word of the query as a prefix of a word of the title or the sender's name.
-- 'simple' (no stemming, no stop words): names and titles are searched as written. pg_trgm would
-- find parts of words too, but the embedded PostgreSQL (pgserver) is built without it.
CREATE INDEX cases_text ON cases USING gin (to_tsvector('simple', subject || ' ' || sender_name));
