-- The dead letters, by their own partial index: the dead-letter gauge (every 10 s) and
-- `evo-sessions webhooks redeliver` read them without scanning the outbox.
CREATE INDEX session_events_dead_idx ON session_events (id) WHERE delivery = 3;
