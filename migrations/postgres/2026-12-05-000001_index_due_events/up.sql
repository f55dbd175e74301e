-- Fair, index-backed delivery claims (docs/operations.md, "Fair delivery"): the accounts with
-- pending events are found one after another along the first index (a skip scan), each
-- account's due events in time order along it too; whether a session has an earlier pending
-- event is looked up among its pending rows only (the second), however many delivered events
-- it kept. Only pending rows are in either index; the first ends with `id`, the claims' tie-break.
CREATE INDEX session_events_due_idx ON session_events (account_id, next_attempt_at, id) WHERE delivery = 1;
CREATE INDEX session_events_pending_session_idx ON session_events (account_id, session_id, seq) WHERE delivery = 1;
