-- The archive: every closed case, complete, so that it can still be read and its workflow
-- replayed after Temporal's retention period has removed its histories. Written by the
-- archive_case activity when the case closes; archiving again rewrites the row only if
-- something in it changed (archived_at then says when).
CREATE TABLE case_archive (
    case_number text PRIMARY KEY REFERENCES cases (case_number),
    workflow_id text NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT now(),
    -- The runs of the case's workflow, oldest first: a case continues as new, so it is a
    -- chain of runs. run_ids[i] is the run whose history is histories[i].
    run_ids text[] NOT NULL,
    -- Each history in Temporal's JSON form, {"events": [...]}, as WorkflowHistory.to_json_dict()
    -- writes it and WorkflowHistory.from_json (and `temporal workflow show --output json`) read it.
    histories jsonb NOT NULL CHECK (jsonb_typeof(histories) = 'array'),
    -- False when the oldest runs had left Temporal before the case was first archived: a case
    -- can outlive the retention of its earlier runs. Then histories holds the runs still there.
    complete boolean NOT NULL,
    -- The register's rows for the case when it was archived, each row as it is in its table:
    -- {"case": {...}, "events": [...], "documents": [...], "letters": [...]}.
    register_rows jsonb NOT NULL CHECK (jsonb_typeof(register_rows) = 'object'),
    CHECK (cardinality(run_ids) = jsonb_array_length(histories) AND cardinality(run_ids) > 0)
);
