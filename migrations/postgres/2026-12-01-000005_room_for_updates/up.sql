-- Every change rewrites its session's header row. At the default fillfactor (100) a page
-- filled by inserts has no room left for the new version, so the update cannot be HOT and
-- writes a new entry in each of the table's three indexes. With room kept free on each
-- page the new version goes beside the old one (HOT: no index entry), and pruning gives
-- the dead versions' room back. Applies to pages written from now on.
ALTER TABLE sessions SET (fillfactor = 70);

-- An event's body (about 2 KB of JSON) is compressed when its row is stored: lz4 costs a
-- fraction of the default pglz's CPU. Servers built without lz4 keep pglz.
DO $$
BEGIN
    ALTER TABLE session_events ALTER COLUMN body SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not supported by this server: event bodies stay compressed with pglz';
END
$$;
