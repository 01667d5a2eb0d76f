-- Development users of the API (`grantflow users add`): who they are, their role, and the SHA-256
-- of their bearer token. The token itself is shown once and never stored. One person may have
-- several roles, one row (and one token) per role: the token says which role they act in.
-- In production people sign in through the agency's identity provider (OIDC) instead.
CREATE TABLE api_users (
    id text NOT NULL CHECK (id ~ '^[A-Za-z0-9._@-]{1,100}$'),
    role text NOT NULL CHECK (
        role IN ('applicant', 'officer', 'decision_maker', 'finance', 'auditor', 'operations', 'administrator')
    ),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- An applicant's organisation, written as in the register (cases.sender_org_number); staff have none.
    org_number text CHECK (org_number ~ '^[0-9]{6}-[0-9]{4}$' AND substr(org_number, 3, 2) >= '20'),
    token_sha256 text NOT NULL UNIQUE CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    issued_at timestamptz NOT NULL DEFAULT now(),  -- when the current token was issued
    revoked_at timestamptz,
    PRIMARY KEY (id, role),
    CHECK ((role = 'applicant') = (org_number IS NOT NULL))
);
