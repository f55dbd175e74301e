-- Back to keys by session ID alone. Fails if two accounts hold the same session ID, or one
-- caller holds the same key in two accounts (the old keys cannot hold both).
DROP INDEX idempotency_keys_scope_key_idx;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (scope, key);
ALTER TABLE idempotency_keys DROP COLUMN account_id;

ALTER TABLE session_log DROP CONSTRAINT session_log_session_fkey;
ALTER TABLE session_members DROP CONSTRAINT session_members_session_fkey;

DROP INDEX sessions_id_idx;
ALTER TABLE sessions DROP CONSTRAINT sessions_pkey;
ALTER TABLE sessions ADD CONSTRAINT sessions_pkey PRIMARY KEY (id);

ALTER TABLE session_log DROP CONSTRAINT session_log_pkey;
ALTER TABLE session_log ADD CONSTRAINT session_log_pkey PRIMARY KEY (seq);
CREATE INDEX session_log_session_idx ON session_log (session_id, seq);
ALTER TABLE session_log ADD CONSTRAINT session_log_session_id_fkey
    FOREIGN KEY (session_id) REFERENCES sessions (id) ON DELETE CASCADE;
ALTER TABLE session_log DROP COLUMN account_id;

ALTER TABLE session_members DROP CONSTRAINT session_members_identity_key_unique;
ALTER TABLE session_members
    ADD CONSTRAINT session_members_identity_key_unique UNIQUE (session_id, identity_key);
ALTER TABLE session_members DROP CONSTRAINT session_members_pkey;
ALTER TABLE session_members ADD CONSTRAINT session_members_pkey PRIMARY KEY (position);
CREATE INDEX session_members_session_idx ON session_members (session_id, position);
ALTER TABLE session_members ADD CONSTRAINT session_members_session_id_fkey
    FOREIGN KEY (session_id) REFERENCES sessions (id) ON DELETE CASCADE;
ALTER TABLE session_members DROP COLUMN account_id;
