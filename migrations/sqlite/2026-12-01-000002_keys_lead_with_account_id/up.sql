-- Every table's key leads with `account_id` (docs/api.md, "Durability and several
-- instances"), as in
-- migrations/postgres/2026-12-01-000002_keys_lead_with_account_id (its comments say why).
-- SQLite cannot change a table's key in place: each table is rebuilt (create the new one,
-- copy, drop the old one, rename), keeping every row. The children are dropped before
-- `sessions`, and reference the new table, so that dropping the old `sessions` cascades
-- nowhere (`foreign_keys` is on, and cannot be turned off inside the migration's
-- transaction). Renaming a table rewrites the foreign keys that name it (SQLite >= 3.26).
--
-- `position` and `seq` are no longer AUTOINCREMENT row IDs (AUTOINCREMENT needs the row ID
-- to be the key): the store numbers them per session, after the last one (changes hold the
-- write lock of BEGIN IMMEDIATE, so two never pick the same). Copied rows keep theirs.

CREATE TABLE sessions_v2 (

    id                              TEXT    NOT NULL,
    account_id                      TEXT    NOT NULL,
    channel                         TEXT    NOT NULL,
    direction                       TEXT    NOT NULL,
    dial_state                      TEXT    NOT NULL,
    call_state                      TEXT    NOT NULL,
    queue_state                     TEXT    NOT NULL,
    hold_reason                     TEXT    NOT NULL,
    ended                           BOOLEAN NOT NULL,
    was_missed                      BOOLEAN NOT NULL,
    date_completed                  TEXT,
    account_name                    TEXT,
    customer_id                     TEXT,
    customer_breadcrumb             TEXT    NOT NULL DEFAULT '[]',
    customer_name                   TEXT,
    endpoint_id                     TEXT,
    endpoint_name                   TEXT,
    destination                     TEXT,
    to_address                      TEXT,
    from_address                    TEXT,
    from_name                       TEXT,
    answered_by_name                TEXT,
    queue_member_id                 TEXT,
    outcome                         TEXT,
    call_sid                        TEXT,
    console_data                    TEXT,
    hold_queue_name                 TEXT,
    held_by_user_id                 TEXT,
    conference_sid                  TEXT,
    display_name                    TEXT,
    callback_number                 TEXT,
    answered_by_id                  TEXT,
    from_phone_number               TEXT,
    most_recent_participant_call_sid TEXT,
    ring_queue_id                   TEXT,
    date_created                    TEXT    NOT NULL,
    created_by                      TEXT    NOT NULL,
    date_last_modified              TEXT    NOT NULL,
    last_modified_by                TEXT    NOT NULL,
    version                         BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, id)
);
INSERT INTO sessions_v2 (id, account_id, channel, direction, dial_state, call_state, queue_state, hold_reason, ended, was_missed, date_completed, account_name, customer_id, customer_breadcrumb, customer_name, endpoint_id, endpoint_name, destination, to_address, from_address, from_name, answered_by_name, queue_member_id, outcome, call_sid, console_data, hold_queue_name, held_by_user_id, conference_sid, display_name, callback_number, answered_by_id, from_phone_number, most_recent_participant_call_sid, ring_queue_id, date_created, created_by, date_last_modified, last_modified_by, version) SELECT id, account_id, channel, direction, dial_state, call_state, queue_state, hold_reason, ended, was_missed, date_completed, account_name, customer_id, customer_breadcrumb, customer_name, endpoint_id, endpoint_name, destination, to_address, from_address, from_name, answered_by_name, queue_member_id, outcome, call_sid, console_data, hold_queue_name, held_by_user_id, conference_sid, display_name, callback_number, answered_by_id, from_phone_number, most_recent_participant_call_sid, ring_queue_id, date_created, created_by, date_last_modified, last_modified_by, version FROM sessions;

CREATE TABLE session_members_v2 (
    account_id          TEXT    NOT NULL,
    session_id          TEXT    NOT NULL,
    position            INTEGER NOT NULL,
    identity            TEXT    NOT NULL,
    identity_key        TEXT    NOT NULL,
    endpoint_id         TEXT,
    display_name        TEXT,
    is_original_member  BOOLEAN NOT NULL,
    avatar_url          TEXT,
    application_data    TEXT    NOT NULL DEFAULT '{}',
    call_state          TEXT    NOT NULL,
    role                TEXT    NOT NULL,
    call_sid            TEXT,
    muted               BOOLEAN NOT NULL,
    PRIMARY KEY (account_id, session_id, position),
    UNIQUE (account_id, session_id, identity_key),
    FOREIGN KEY (account_id, session_id) REFERENCES sessions_v2 (account_id, id) ON DELETE CASCADE
);
INSERT INTO session_members_v2 (account_id, position, session_id, identity, identity_key, endpoint_id, display_name, is_original_member, avatar_url, application_data, call_state, role, call_sid, muted)
SELECT s.account_id, m.position, m.session_id, m.identity, m.identity_key, m.endpoint_id, m.display_name, m.is_original_member, m.avatar_url, m.application_data, m.call_state, m.role, m.call_sid, m.muted
FROM session_members m JOIN sessions s ON s.id = m.session_id;

CREATE TABLE session_log_v2 (
    account_id  TEXT    NOT NULL,
    session_id  TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    date        TEXT    NOT NULL,
    message     TEXT    NOT NULL,
    PRIMARY KEY (account_id, session_id, seq),
    FOREIGN KEY (account_id, session_id) REFERENCES sessions_v2 (account_id, id) ON DELETE CASCADE
);
INSERT INTO session_log_v2 (account_id, session_id, seq, date, message)
SELECT s.account_id, l.session_id, l.seq, l.date, l.message
FROM session_log l JOIN sessions s ON s.id = l.session_id;

CREATE TABLE idempotency_keys_v2 (
    account_id   TEXT        NOT NULL, -- the account of the session the request addressed; '' none
    scope        TEXT        NOT NULL, -- the caller (`sub`)
    key          TEXT        NOT NULL, -- the Idempotency-Key
    fingerprint  TEXT        NOT NULL, -- SHA-256 of the method, path, query and body
    status       INTEGER     NOT NULL,
    content_type TEXT        NOT NULL,
    body         BLOB        NOT NULL,
    expires_at   TEXT        NOT NULL,
    PRIMARY KEY (account_id, scope, key)
);
-- Answers kept before this migration did not record their session: account '' (none).
INSERT INTO idempotency_keys_v2 (account_id, scope, key, fingerprint, status, content_type, body, expires_at)
SELECT '', scope, key, fingerprint, status, content_type, body, expires_at FROM idempotency_keys;

DROP TABLE session_members;
DROP TABLE session_log;
DROP TABLE sessions;
DROP TABLE idempotency_keys;
ALTER TABLE sessions_v2 RENAME TO sessions;
ALTER TABLE session_members_v2 RENAME TO session_members;
ALTER TABLE session_log_v2 RENAME TO session_log;
ALTER TABLE idempotency_keys_v2 RENAME TO idempotency_keys;

CREATE INDEX sessions_account_id_idx ON sessions (account_id, date_created);
CREATE INDEX sessions_id_idx ON sessions (id);
CREATE INDEX idempotency_keys_scope_key_idx ON idempotency_keys (scope, key);
CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);
