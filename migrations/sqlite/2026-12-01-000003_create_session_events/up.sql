-- The outbox (docs/api.md, "Events"): one row per committed change, written in the change's
-- own transaction. SQLite has one writer at a time, so an event's number (`id`, given at
-- insert) already follows commit order.
CREATE TABLE session_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      TEXT    NOT NULL,
    session_id      TEXT    NOT NULL,
    event_type      TEXT    NOT NULL,
    -- The JSON body without its `id` (the store puts the number in front when reading).
    body            TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    -- 0: no webhook to deliver to; 1: pending; 2: delivered; 3: dead letter.
    delivery        INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    pending_since   TEXT    NOT NULL,
    next_attempt_at TEXT    NOT NULL,
    lease_until     TEXT,
    last_error      TEXT
);
CREATE INDEX session_events_account_idx ON session_events (account_id, session_id, id);
CREATE INDEX session_events_pending_idx ON session_events (id) WHERE delivery = 1;
CREATE INDEX session_events_settled_idx ON session_events (created_at) WHERE delivery IN (0, 2);
