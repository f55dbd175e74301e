-- The outbox (docs/api.md, "Events"): one row per committed change, written in the change's
-- own transaction, so that no event is without its change nor a change without its event.
-- Rows are numbered after they commit (`id`, by the store's sequencer, one transaction at a
-- time under an advisory lock): numbers then follow the order in which events become
-- readable, so a reader that resumes after event n never misses a later-committed lower one.
CREATE SEQUENCE session_event_ids AS BIGINT;

CREATE TABLE session_events (
    account_id      TEXT        NOT NULL,
    session_id      TEXT        NOT NULL,
    -- Insert order (within a session: change order, changes being serialized per session).
    seq             BIGINT      GENERATED ALWAYS AS IDENTITY,
    -- The event's number; NULL until the sequencer numbers it.
    id              BIGINT,
    event_type      TEXT        NOT NULL,
    -- The JSON body without its `id` (the store puts the number in front when reading).
    body            TEXT        NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    -- 0: no webhook to deliver to; 1: pending; 2: delivered; 3: dead letter.
    delivery        SMALLINT    NOT NULL,
    attempts        INTEGER     NOT NULL DEFAULT 0,
    -- Since when it waits (creation, or the last redelivery): the retry window starts here.
    pending_since   TIMESTAMPTZ NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    -- A worker's lease: no other worker takes the event before then.
    lease_until     TIMESTAMPTZ,
    last_error      TEXT,
    PRIMARY KEY (account_id, session_id, seq)
);
-- Unique by the sequence; not a unique index, which a table distributed by account (Citus)
-- could only have with account_id in it.
CREATE INDEX session_events_id_idx ON session_events (id);
CREATE INDEX session_events_unnumbered_idx ON session_events (seq) WHERE id IS NULL;
CREATE INDEX session_events_pending_idx ON session_events (id) WHERE delivery = 1;
CREATE INDEX session_events_settled_idx ON session_events (created_at) WHERE delivery IN (0, 2);
