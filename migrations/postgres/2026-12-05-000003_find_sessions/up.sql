-- Finding sessions (docs/api.md, "ListSessions", "GetActiveSessions"); why each index, with
-- the plans, in docs/performance.md, "Finding sessions". None is on a column a change
-- rewrites (date_last_modified, version, the states...), so every change's rewrite of its
-- session's header stays a HOT update that touches no index. `IF NOT EXISTS`: on a large live
-- database an operator may build them first with CREATE INDEX CONCURRENTLY under these names
-- (docs/operations.md, "Choosing the store"), and this migration then skips them.

-- The "contains" searches (`from`, `to`, `log`): trigram indexes answer ILIKE '%text%'.
-- pg_trgm is a trusted extension: the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Newest (or oldest) first over every account: an Admin's list, or a User's of many accounts.
CREATE INDEX IF NOT EXISTS sessions_date_created_idx ON sessions (date_created);
-- `customerIds`, `endpointIds`: the matches of one value come out in date order.
CREATE INDEX IF NOT EXISTS sessions_customer_id_idx ON sessions (customer_id, date_created);
CREATE INDEX IF NOT EXISTS sessions_endpoint_id_idx ON sessions (endpoint_id, date_created);
-- `from` is over three columns and `to` over two: one trigram index each (OR'd by a
-- BitmapOr). Written once, when the session is created: no change rewrites them.
CREATE INDEX IF NOT EXISTS sessions_from_address_trgm_idx ON sessions USING gin (from_address gin_trgm_ops);
CREATE INDEX IF NOT EXISTS sessions_from_name_trgm_idx ON sessions USING gin (from_name gin_trgm_ops);
CREATE INDEX IF NOT EXISTS sessions_from_phone_number_trgm_idx ON sessions USING gin (from_phone_number gin_trgm_ops);
CREATE INDEX IF NOT EXISTS sessions_to_address_trgm_idx ON sessions USING gin (to_address gin_trgm_ops);
CREATE INDEX IF NOT EXISTS sessions_destination_trgm_idx ON sessions USING gin (destination gin_trgm_ops);
-- `log`: every change appends an entry, and so an entry here (GIN's pending list takes it
-- cheaply; VACUUM or the list's size folds it in).
CREATE INDEX IF NOT EXISTS session_log_message_trgm_idx ON session_log USING gin (message gin_trgm_ops);
-- A member's sessions (GetActiveSessions, RemoveChatMemberFromActiveSessions): by identity.
CREATE INDEX IF NOT EXISTS session_members_identity_key_idx ON session_members (identity_key, account_id, session_id);
