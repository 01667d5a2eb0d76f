-- A register that cannot be changed silently (docs/decisions/0029-a-chained-register.md): every
-- row of case_events carries its place in its case's chain (seq, 1, 2, ...), the hash of the row
-- before it (prev_hash, '' for the first) and its own hash over its content and prev_hash. The
-- register's write (activities/register.py) sets all three in the statement that inserts the row.
-- `grantflow audit verify` recomputes every hash in Python, from the row alone, so that neither
-- this function nor the stored hashes are trusted: a row changed, deleted or inserted by hand
-- breaks its case's chain, and a chain rewritten whole differs from its head saved outside the
-- database (`grantflow audit heads`, deploy/README.md).
--
-- The hash: sha256, in hex, of each field written as <its length in characters>:<the field>, one
-- after the other: prev_hash, case_number, seq, event_id, at (UTC, YYYY-MM-DDTHH:MM:SS.ffffff),
-- actor_id, actor_role, kind, stage, summary. domain/audit.py has the same in Python.
CREATE FUNCTION case_event_hash(prev text, case_number text, seq bigint, event_id text, at timestamptz,
                                actor_id text, actor_role text, kind text, stage text, summary text)
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT encode(sha256(convert_to(
        length(prev)::text || ':' || prev || length(case_number)::text || ':' || case_number
        || length(seq::text)::text || ':' || seq::text || length(event_id)::text || ':' || event_id
        || '26:' || to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')
        || length(actor_id)::text || ':' || actor_id || length(actor_role)::text || ':' || actor_role
        || length(kind)::text || ':' || kind || length(stage)::text || ':' || stage
        || length(summary)::text || ':' || summary, 'UTF8')), 'hex')
$$;

-- NULL only in a row that was not written by the register (by hand): verify names it.
ALTER TABLE case_events
    ADD COLUMN seq bigint CHECK (seq > 0),
    ADD COLUMN prev_hash text,
    ADD COLUMN hash text,
    ADD CONSTRAINT case_events_chain_place UNIQUE (case_number, seq);

-- The rows written before this migration are chained here, in the order the register lists them
-- (at, event_id). The chain vouches for them from now on: what was changed in them before this
-- migration ran cannot be told from it (the cross-check against the recorded history still can).
WITH RECURSIVE ordered AS (
    SELECT e.*, row_number() OVER (PARTITION BY case_number ORDER BY at, event_id) AS place
    FROM case_events e
), chained AS (
    SELECT case_number, event_id, place,
           case_event_hash('', case_number, place, event_id, at, actor_id, actor_role, kind, stage, summary) AS hash,
           ''::text AS prev_hash
    FROM ordered WHERE place = 1
    UNION ALL
    SELECT o.case_number, o.event_id, o.place,
           case_event_hash(c.hash, o.case_number, o.place, o.event_id, o.at, o.actor_id, o.actor_role, o.kind,
                           o.stage, o.summary),
           c.hash
    FROM chained c JOIN ordered o ON o.case_number = c.case_number AND o.place = c.place + 1
)
UPDATE case_events e SET seq = c.place, prev_hash = c.prev_hash, hash = c.hash
FROM chained c WHERE e.case_number = c.case_number AND e.event_id = c.event_id;
