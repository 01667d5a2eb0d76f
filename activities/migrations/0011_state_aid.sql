-- The state-aid record: de minimis aid that companies a project reached received through a case
-- (domain/state_aid.py). One row per company and report, written once when the officer approves
-- the report (the key makes a retried write harmless), never updated.
CREATE TABLE state_aid (
    case_number text NOT NULL REFERENCES cases (case_number),
    aid_id text NOT NULL CHECK (length(aid_id) BETWEEN 1 AND 100),
    call_id text NOT NULL,
    -- The ten digits of the organisation number: 556912-3408 and 16556912-3408 are one company.
    org_number text NOT NULL CHECK (org_number ~ '^[0-9]{10}$'),
    company_name text NOT NULL CHECK (length(company_name) BETWEEN 1 AND 300),
    aid text NOT NULL CHECK (length(aid) BETWEEN 1 AND 300),
    granted_on date NOT NULL,
    value_sek numeric(14, 2) NOT NULL CHECK (value_sek > 0),
    value_eur numeric(14, 2) NOT NULL CHECK (value_eur >= 0),
    sek_per_eur numeric(12, 6) NOT NULL CHECK (sek_per_eur > 0),
    rate_published_on date NOT NULL,
    rule_id text NOT NULL,
    regulation text NOT NULL,
    ceiling_eur numeric(14, 2) NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_number, aid_id)
);

-- The ceiling check: a company's aid in a window of days, in every case, answered from the index
-- alone (one index range scan per reported company).
CREATE INDEX state_aid_company ON state_aid (org_number, granted_on) INCLUDE (value_eur, value_sek);
-- The export of a call's aid for the state-aid register.
CREATE INDEX state_aid_call ON state_aid (call_id, granted_on);
