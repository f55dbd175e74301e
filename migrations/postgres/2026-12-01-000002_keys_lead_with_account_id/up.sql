-- Every table's key leads with `account_id` (docs/api.md, "Durability and several
-- instances"), so that the schema can be
-- distributed by account (Citus: docs/operations.md, "Past one PostgreSQL") unchanged, and so
-- that every lookup of a session's rows by ID carries its account. Existing rows are kept:
-- the child tables get their session's account, copied from `sessions`.

-- 1. The account of every member and log row, from its session.
ALTER TABLE session_members ADD COLUMN account_id TEXT;
UPDATE session_members m SET account_id = s.account_id FROM sessions s WHERE s.id = m.session_id;
ALTER TABLE session_members ALTER COLUMN account_id SET NOT NULL;

ALTER TABLE session_log ADD COLUMN account_id TEXT;
UPDATE session_log l SET account_id = s.account_id FROM sessions s WHERE s.id = l.session_id;
ALTER TABLE session_log ALTER COLUMN account_id SET NOT NULL;

-- 2. The foreign keys point at the session's key, which changes: dropped, then rebuilt.
ALTER TABLE session_members DROP CONSTRAINT session_members_session_id_fkey;
ALTER TABLE session_log DROP CONSTRAINT session_log_session_id_fkey;

-- 3. sessions: keyed by (account_id, id). A session ID is unique within its account by this
-- key; across accounts by construction (the service makes UUIDv4s). A unique index on `id`
-- alone could not be kept on Citus (a unique index must hold the distribution column), so
-- `id` has a plain index: it serves the lookups that do not know the account (Admin: every
-- account), which on Citus fan out to every shard.
ALTER TABLE sessions DROP CONSTRAINT sessions_pkey;
ALTER TABLE sessions ADD CONSTRAINT sessions_pkey PRIMARY KEY (account_id, id);
CREATE INDEX sessions_id_idx ON sessions (id);

-- 4. session_members: keyed by (account_id, session_id, position), which is also the order
-- the members load in; an identity is unique per session, under the account too.
ALTER TABLE session_members DROP CONSTRAINT session_members_pkey;
ALTER TABLE session_members ADD CONSTRAINT session_members_pkey PRIMARY KEY (account_id, session_id, position);
ALTER TABLE session_members DROP CONSTRAINT session_members_identity_key_unique;
ALTER TABLE session_members
    ADD CONSTRAINT session_members_identity_key_unique UNIQUE (account_id, session_id, identity_key);
DROP INDEX session_members_session_idx;
ALTER TABLE session_members ADD CONSTRAINT session_members_session_fkey
    FOREIGN KEY (account_id, session_id) REFERENCES sessions (account_id, id) ON DELETE CASCADE;

-- 5. session_log: keyed by (account_id, session_id, seq), the order it loads in.
ALTER TABLE session_log DROP CONSTRAINT session_log_pkey;
ALTER TABLE session_log ADD CONSTRAINT session_log_pkey PRIMARY KEY (account_id, session_id, seq);
DROP INDEX session_log_session_idx;
ALTER TABLE session_log ADD CONSTRAINT session_log_session_fkey
    FOREIGN KEY (account_id, session_id) REFERENCES sessions (account_id, id) ON DELETE CASCADE;

-- 6. idempotency_keys: keyed by (account_id, scope, key). `account_id` is the account of the
-- session the request addressed (a create: the new session's; a change: the locked
-- session's), so that the answer lives on the same shard as the change it answers and is
-- written in that shard's transaction. A request that addressed no session visible to its
-- caller (a keyed change answered NotFound), and every answer kept before this migration
-- (which did not record the session), has the account '' (none). Lookups of a key ask among
-- the caller's visible accounts and '' (Admin: all), so a key stays the caller's across
-- accounts as before (docs/api.md, "Idempotency-Key"); the plain index on (scope, key) serves the
-- lookups that do not know the accounts (Admin, and a create, whose store call has no
-- caller). The purge keeps its index on expires_at: it deletes across accounts.
ALTER TABLE idempotency_keys ADD COLUMN account_id TEXT NOT NULL DEFAULT '';
ALTER TABLE idempotency_keys ALTER COLUMN account_id DROP DEFAULT;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (account_id, scope, key);
CREATE INDEX idempotency_keys_scope_key_idx ON idempotency_keys (scope, key);
