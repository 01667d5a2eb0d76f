-- The case register (diarium), each case's events and documents, the letter outbox
-- and the budget ledger. Instants are timestamptz (UTC); money is numeric(14,2) kronor.

-- Case numbers are YYYY-NNNNN without gaps within a year. A sequence would leave gaps
-- on rollback; a counter row per year, locked by the allocating transaction until it
-- commits, does not.
CREATE TABLE case_numbers (
    year int PRIMARY KEY CHECK (year BETWEEN 1900 AND 9999),
    last int NOT NULL CHECK (last > 0)
);

-- The public register (OSL 5 kap. 2 §): case number, date received, sender, subject.
-- Everything here may be shown to anyone, so a natural person's personnummer is never
-- stored: sender_org_number is NULL for a person, and the check below refuses anything
-- that is not written as an organisation number (digits 3–4 at least 20).
CREATE TABLE cases (
    case_number text PRIMARY KEY CHECK (case_number ~ '^[0-9]{4}-[0-9]{5,}$'),
    submission_id text NOT NULL UNIQUE,
    call_id text NOT NULL,
    received_at timestamptz NOT NULL,
    imported boolean NOT NULL DEFAULT false,
    sender_name text NOT NULL,
    sender_org_number text CHECK (
        sender_org_number ~ '^[0-9]{6}-[0-9]{4}$' AND substr(sender_org_number, 3, 2) >= '20'
    ),
    subject text NOT NULL,
    requested_amount numeric(14, 2) NOT NULL CHECK (requested_amount >= 0),
    stage text NOT NULL,
    outcome text,
    officer text,
    granted_amount numeric(14, 2) CHECK (granted_amount >= 0),
    next_deadline timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX cases_call_stage ON cases (call_id, stage);

CREATE TABLE case_events (
    case_number text NOT NULL REFERENCES cases (case_number),
    event_id text NOT NULL,
    at timestamptz NOT NULL,
    actor_id text NOT NULL,
    actor_role text NOT NULL,
    kind text NOT NULL,
    stage text NOT NULL,
    summary text NOT NULL,
    PRIMARY KEY (case_number, event_id)
);

CREATE TABLE case_documents (
    case_number text NOT NULL REFERENCES cases (case_number),
    document_id text NOT NULL,
    kind text NOT NULL,
    title text NOT NULL,
    registered_at timestamptz NOT NULL,
    content jsonb NOT NULL,
    PRIMARY KEY (case_number, document_id)
);

-- The outbox: a letter is written here first and sent from here, so a letter that
-- could not be sent (no SMTP, no e-mail address) is still on file to be posted.
CREATE TABLE letters (
    case_number text NOT NULL REFERENCES cases (case_number),
    letter_id text NOT NULL,
    kind text NOT NULL,
    recipient_name text NOT NULL,
    recipient_email text,
    subject text NOT NULL,
    body text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    PRIMARY KEY (case_number, letter_id)
);

CREATE INDEX letters_unsent ON letters (created_at) WHERE sent_at IS NULL;

-- The budget ledger: grants in a call never add up to more than its budget. Every
-- grant locks its call's row, so grants in one call are decided one at a time.
CREATE TABLE call_budgets (
    call_id text PRIMARY KEY,
    budget numeric(14, 2) NOT NULL CHECK (budget >= 0)
);

CREATE TABLE budget_grants (
    call_id text NOT NULL REFERENCES call_budgets (call_id),
    case_number text NOT NULL,
    amount numeric(14, 2) NOT NULL CHECK (amount > 0),
    granted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (call_id, case_number)
);
