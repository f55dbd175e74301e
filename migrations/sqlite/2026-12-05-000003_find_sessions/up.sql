-- Finding sessions (docs/api.md, "ListSessions", "GetActiveSessions"); the PostgreSQL
-- migration of the same name says why each index.
CREATE INDEX sessions_date_created_idx ON sessions (date_created);
CREATE INDEX sessions_customer_id_idx ON sessions (customer_id, date_created);
CREATE INDEX sessions_endpoint_id_idx ON sessions (endpoint_id, date_created);
CREATE INDEX session_members_identity_key_idx ON session_members (identity_key, account_id, session_id);

-- `log` "contains": an FTS5 trigram index of the log's messages (case-insensitive), with the
-- session each belongs to. It keeps its own copy of the text: an external-content table would
-- point at session_log's rowids, which VACUUM may renumber. Filled by a trigger; log entries
-- are never deleted or changed.
CREATE VIRTUAL TABLE session_log_search USING fts5(
    message,
    account_id UNINDEXED,
    session_id UNINDEXED,
    tokenize = 'trigram'
);
INSERT INTO session_log_search (message, account_id, session_id)
SELECT message, account_id, session_id FROM session_log;
CREATE TRIGGER session_log_search_insert AFTER INSERT ON session_log BEGIN
    INSERT INTO session_log_search (message, account_id, session_id)
    VALUES (new.message, new.account_id, new.session_id);
END;
