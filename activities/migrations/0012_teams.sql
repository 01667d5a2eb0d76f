-- Teams of staff, kept by administrators (`grantflow teams`, PUT/DELETE /teams/{team}/members/{person}):
-- register data, not case data, so no workflow writes it. A member is a person id as they sign in
-- (api_users.id for a development token, the identity provider's subject for OIDC), not a row of
-- api_users: people who sign in through the identity provider have none. A team exists while it
-- has members. The inbox's "my team's cases" (activities/inbox.py) reads it in the same statement
-- as the cases.
CREATE TABLE team_members (
    -- Lower-case letters (å, ä, ö too), digits and inner hyphens, as written in an address: handlaggning-norr.
    team text NOT NULL CHECK (team ~ '^[a-zåäö0-9]([a-zåäö0-9-]{0,48}[a-zåäö0-9])?$'),
    person text NOT NULL CHECK (person ~ '^[A-Za-z0-9._@-]{1,100}$'),
    added_by text NOT NULL CHECK (length(added_by) BETWEEN 1 AND 100),
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team, person)
);

-- "The teams I am in", for the inbox's team=mine: the person's rows, then their teams' members by
-- the primary key.
CREATE INDEX team_members_person ON team_members (person) INCLUDE (team);
