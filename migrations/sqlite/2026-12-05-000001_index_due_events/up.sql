-- Fair, index-backed delivery claims (docs/operations.md, "Fair delivery"): the accounts with
-- pending events one after another along the first index, each account's due events in time
-- order along it too; a session's earlier pending events among its pending rows only.
CREATE INDEX session_events_due_idx ON session_events (account_id, next_attempt_at) WHERE delivery = 1;
CREATE INDEX session_events_pending_session_idx ON session_events (account_id, session_id, id) WHERE delivery = 1;
