-- Back to the keys of the first migrations (same rebuild as up.sql, in reverse). Fails if
-- two accounts hold the same session ID, or one caller the same key in two accounts.
-- `position` and `seq` become global row IDs again: renumbered, keeping each session's order.
CREATE TABLE sessions_v1 (
    id                              TEXT    NOT NULL PRIMARY KEY,
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
    version                         BIGINT  NOT NULL DEFAULT 0
);
INSERT INTO sessions_v1 (id, account_id, channel, direction, dial_state, call_state, queue_state, hold_reason, ended, was_missed, date_completed, account_name, customer_id, customer_breadcrumb, customer_name, endpoint_id, endpoint_name, destination, to_address, from_address, from_name, answered_by_name, queue_member_id, outcome, call_sid, console_data, hold_queue_name, held_by_user_id, conference_sid, display_name, callback_number, answered_by_id, from_phone_number, most_recent_participant_call_sid, ring_queue_id, date_created, created_by, date_last_modified, last_modified_by, version) SELECT id, account_id, channel, direction, dial_state, call_state, queue_state, hold_reason, ended, was_missed, date_completed, account_name, customer_id, customer_breadcrumb, customer_name, endpoint_id, endpoint_name, destination, to_address, from_address, from_name, answered_by_name, queue_member_id, outcome, call_sid, console_data, hold_queue_name, held_by_user_id, conference_sid, display_name, callback_number, answered_by_id, from_phone_number, most_recent_participant_call_sid, ring_queue_id, date_created, created_by, date_last_modified, last_modified_by, version FROM sessions;

CREATE TABLE session_members_v1 (
    position            INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id          TEXT    NOT NULL REFERENCES sessions_v1 (id) ON DELETE CASCADE,
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
    UNIQUE (session_id, identity_key)
);
INSERT INTO session_members_v1 (position, session_id, identity, identity_key, endpoint_id, display_name, is_original_member, avatar_url, application_data, call_state, role, call_sid, muted)
SELECT ROW_NUMBER() OVER (ORDER BY session_id, position), session_id, identity, identity_key, endpoint_id, display_name, is_original_member, avatar_url, application_data, call_state, role, call_sid, muted 
FROM session_members;

CREATE TABLE session_log_v1 (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id  TEXT    NOT NULL REFERENCES sessions_v1 (id) ON DELETE CASCADE,
    date        TEXT    NOT NULL,
    message     TEXT    NOT NULL
);
INSERT INTO session_log_v1 (seq, session_id, date, message)
SELECT ROW_NUMBER() OVER (ORDER BY session_id, seq), session_id, date, message FROM session_log;

CREATE TABLE idempotency_keys_v1 (
    scope        TEXT        NOT NULL, -- the caller (`sub`)
    key          TEXT        NOT NULL, -- the Idempotency-Key
    fingerprint  TEXT        NOT NULL, -- SHA-256 of the method, path, query and body
    status       INTEGER     NOT NULL,
    content_type TEXT        NOT NULL,
    body         BLOB        NOT NULL,
    expires_at   TEXT        NOT NULL,
    PRIMARY KEY (scope, key)
);
INSERT INTO idempotency_keys_v1 (scope, key, fingerprint, status, content_type, body, expires_at)
SELECT scope, key, fingerprint, status, content_type, body, expires_at FROM idempotency_keys;

DROP TABLE session_members;
DROP TABLE session_log;
DROP TABLE sessions;
DROP TABLE idempotency_keys;
ALTER TABLE sessions_v1 RENAME TO sessions;
ALTER TABLE session_members_v1 RENAME TO session_members;
ALTER TABLE session_log_v1 RENAME TO session_log;
ALTER TABLE idempotency_keys_v1 RENAME TO idempotency_keys;

CREATE INDEX sessions_account_id_idx ON sessions (account_id, date_created);
CREATE INDEX session_members_session_idx ON session_members (session_id, position);
CREATE INDEX session_log_session_idx ON session_log (session_id, seq);
CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);
