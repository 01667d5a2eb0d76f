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
    ADD COLUMN IF NOT EXISTS records_pending_since timestamptz,
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
CREATE INDEX cases_deadline_at ON cases (deadline_at) INCLUDE (stage) WHERE deadline_at IS NOT NULL;
CREATE INDEX cases_records_pending ON cases (records_pending_since) WHERE records_pending_since IS NOT NULL;
-- Amount applied for, from and to; with the stage, so that the counts per stage under an amount
-- filter, with or without a call, are read from the index alone.
CREATE INDEX cases_requested_amount ON cases (requested_amount) INCLUDE (stage);
CREATE INDEX cases_call_amount ON cases (call_id, requested_amount) INCLUDE (stage);
-- Free text: every word of the query as a prefix of a word of the title or the sender's name.
-- 'simple' (no stemming, no stop words): names and titles are searched as written. pg_trgm would
-- find parts of words too, but the embedded PostgreSQL (pgserver) is built without it.
CREATE INDEX cases_text ON cases USING gin (to_tsvector('simple', subject || ' ' || sender_name));

-- Counts per stage, for the inbox's tabs, kept by the database as cases are written: counting
-- 100 000 cases on every look at the inbox would cost more than the rest of it. By call and
-- officer ('' for none), the filters an inbox is most often narrowed by; the inbox counts the
-- cases themselves under any other filter, which narrows them to few.
CREATE TABLE case_counts (
    call_id text NOT NULL,
    officer text NOT NULL,
    stage text NOT NULL,
    n bigint NOT NULL,  -- no CHECK (n >= 0): it would refuse the -1 that ON CONFLICT adds to a row
    PRIMARY KEY (call_id, officer, stage)
);

INSERT INTO case_counts (call_id, officer, stage, n)
SELECT call_id, COALESCE(officer, ''), stage, count(*) FROM cases GROUP BY 1, 2, 3;

-- One statement for both rows a move touches, in key order: two cases moving opposite ways at
-- once lock the rows in the same order, so they wait for each other instead of deadlocking.
CREATE FUNCTION case_counts_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO case_counts AS c (call_id, officer, stage, n)
    SELECT call_id, officer, stage, sum(delta) FROM (
        SELECT OLD.call_id AS call_id, COALESCE(OLD.officer, '') AS officer, OLD.stage AS stage, -1 AS delta
        WHERE TG_OP IN ('UPDATE', 'DELETE')
        UNION ALL
        SELECT NEW.call_id, COALESCE(NEW.officer, ''), NEW.stage, 1 WHERE TG_OP IN ('UPDATE', 'INSERT')
    ) moved
    GROUP BY call_id, officer, stage
    HAVING sum(delta) <> 0
    ORDER BY call_id, officer, stage
    ON CONFLICT (call_id, officer, stage) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END
$$;

CREATE TRIGGER cases_counted_new AFTER INSERT OR DELETE ON cases
    FOR EACH ROW EXECUTE FUNCTION case_counts_follow();
CREATE TRIGGER cases_counted_moved AFTER UPDATE OF call_id, officer, stage ON cases
    FOR EACH ROW
    WHEN (OLD.call_id IS DISTINCT FROM NEW.call_id OR OLD.officer IS DISTINCT FROM NEW.officer
          OR OLD.stage IS DISTINCT FROM NEW.stage)
    EXECUTE FUNCTION case_counts_follow();
