-- Finding sessions (docs/api.md, "ListSessions", "GetActiveSessions"); the PostgreSQL
-- migration of the same name says why each index. No index for the "contains" searches here:
-- an FTS5 trigram table of the log, filled by a trigger, cost every change 15-25 % of its rate
-- (docs/performance.md, "Finding sessions"); a `log` search scans the log of the accounts
-- searched instead.
CREATE INDEX sessions_date_created_idx ON sessions (date_created);
CREATE INDEX sessions_customer_id_idx ON sessions (customer_id, date_created);
CREATE INDEX sessions_endpoint_id_idx ON sessions (endpoint_id, date_created);
CREATE INDEX session_members_identity_key_idx ON session_members (identity_key, account_id, session_id);

