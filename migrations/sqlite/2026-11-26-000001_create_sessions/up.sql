-- Sessions: one row per session, every SessionInfo field a column. Times are text
-- (`YYYY-MM-DD HH:MM:SS.fff+00:00`), JSON is text.
CREATE TABLE sessions (
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
CREATE INDEX sessions_account_id_idx ON sessions (account_id, date_created);

-- Current members; `position` (never reused) keeps join order.
CREATE TABLE session_members (
    position            INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id          TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
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
CREATE INDEX session_members_session_idx ON session_members (session_id, position);

-- The append-only log; `seq` (never reused) keeps order.
CREATE TABLE session_log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id  TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    date        TEXT    NOT NULL,
    message     TEXT    NOT NULL
);
CREATE INDEX session_log_session_idx ON session_log (session_id, seq);
