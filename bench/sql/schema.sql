-- Benchmark helpers, in their own schema `bench` of the dedicated evo_bench database.
-- Nothing here is used by the service; run.sh installs it after `evo-sessions migrate`.
\set ON_ERROR_STOP on
CREATE SCHEMA IF NOT EXISTS bench;

-- Session number i -> session ID. A 16-digit decimal text, scattered over the key space
-- like random UUIDs are (Knuth's multiplicative hash in the leading digits, i in the last
-- six so it stays unique). Decimal so that pgbench (integer variables only) can compute it
-- too; wrk's Lua script computes the same formula (bench/wrk/delete.lua).
CREATE OR REPLACE FUNCTION bench.sid(i bigint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (1000000000000000 + ((i * 2654435761) % 4294967296) * 1000000 + i)::text;

-- Phase (3), the physical ceiling: the whole removal in ONE round trip, as a server-side
-- function with the same checks, in the order the domain makes them (visible / chat / not
-- ended / member present / not original), returning the session as stored after the change
-- as rows, like the adapter reads them: the header row, the member rows, the log rows.
-- Each statement of a plpgsql function takes a fresh snapshot (READ COMMITTED), so the reads
-- after the row lock see the state as of the lock: it stays correct under concurrency
-- (a single statement with data-modifying CTEs would not: all its parts share one snapshot
-- taken before the lock is granted).
DROP FUNCTION IF EXISTS bench.remove_member;
CREATE FUNCTION bench.remove_member(
    p_id text, p_key text, p_actor text, p_now timestamptz, p_message text, p_accounts text[])
RETURNS TABLE (header sessions, members session_members[], log session_log[])
LANGUAGE plpgsql AS $$
DECLARE
    s sessions%ROWTYPE;
    changed_at timestamptz;
BEGIN
    SELECT * INTO s FROM sessions WHERE id = p_id AND account_id = ANY (p_accounts) FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'NotFound: session %', p_id;
    END IF;
    IF s.channel <> 'Chat' THEN RAISE EXCEPTION 'NotAChatSession'; END IF;
    IF s.ended THEN RAISE EXCEPTION 'SessionEnded'; END IF;
    DELETE FROM session_members
     WHERE account_id = s.account_id AND session_id = p_id AND identity_key = p_key
       AND NOT is_original_member;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'MemberNotFound or CannotRemoveOriginalMember: % in %', p_key, p_id;
    END IF;
    changed_at := greatest(date_trunc('milliseconds', p_now), s.date_last_modified);
    INSERT INTO session_log (account_id, session_id, date, message)
    VALUES (s.account_id, p_id, changed_at, p_message);
    UPDATE sessions SET date_last_modified = changed_at, last_modified_by = p_actor,
                        version = version + 1
     WHERE account_id = s.account_id AND id = p_id
    RETURNING * INTO s;
    header := s;
    members := ARRAY(SELECT m FROM session_members m
                      WHERE m.account_id = s.account_id AND m.session_id = p_id ORDER BY m.position);
    log := ARRAY(SELECT l FROM session_log l
                  WHERE l.account_id = s.account_id AND l.session_id = p_id ORDER BY l.seq);
    RETURN NEXT;
END
$$;
