-- Design (4), "lean": the one-trip ceiling on the leanest schema that holds the same data
-- as ours, with the outbox in place. psql -f lean.sql, AFTER bench/sql/seed.sql: it
-- (re)creates the schema `lean` from nothing and fills it from the rows seed.sql just wrote
-- (same session IDs, accounts, members, log entries and dates), so every run starts from a
-- fresh seed, as the other designs do.
--
-- Why a schema of its own: design (3) (bench.remove_member) runs on the service's own
-- tables, so whatever our schema costs is in that ceiling too and the service/ceiling ratio
-- cannot see it. This one keeps the data and drops every cost that the data does not need.
--
-- What it holds, against migrations/postgres (every SessionInfo field of the header, every
-- member field, the log, the outbox events, the kept answers of keyed requests):
--   * Enumerations (channel, direction, dialState, callState, queueState, holdReason, a
--     member's callState and role, the event type) as ENUM types with exactly the domain's
--     names (crates/domain/src/states.rs): 4 bytes instead of the name as text, and they
--     print as the same wire names.
--   * Every optional text of the header and of a member is still its own column (a NULL
--     costs one bit of the row's null bitmap). customer_breadcrumb and application_data
--     are NULL when empty instead of '[]' / '{}': the same data, fewer bytes per row.
--   * Keys: our schema leads every key with account_id (so that it can be distributed by
--     account, Citus) and so needs a second index on sessions(id) for the lookups that do
--     not know the account, plus sessions(account_id, date_created) for the listing. Here
--     sessions has ONE index, its primary key on id (session IDs are unique across
--     accounts by construction: UUIDv4s; the bench's decimal IDs are unique too), and the
--     account is an ordinary column, checked when the row is read (visibility).
--   * Child rows refer to their session by an internal number `n` (bigint from a
--     sequence; not indexed: nothing looks a session up by it), not by (account_id,
--     session_id) text: 8 bytes in every member, log and event row and index entry instead
--     of account + ID text (a UUID alone is 37 bytes). The account and the ID are the
--     header's; nothing is lost.
--   * members: ONE index, the primary key (n, identity_key): the removal's lookup, and the
--     uniqueness of an identity in its session. Join order is `position`, a per-session
--     smallint (at most 100 members + 1000 log-bounded invites per session), sorted in
--     memory when the members are read (a session has at most 100). Ours has two indexes:
--     (account_id, session_id, position) and (account_id, session_id, identity_key).
--     identity_key is kept: it is lower case by Rust's Unicode to_lowercase, which
--     PostgreSQL's lower() only matches under some collations, so it is not derivable here.
--   * log: ONE index, the primary key (n, v). The entry's number v is the version its
--     change made (0: the opening entry): every change appends exactly one entry and bumps
--     the version once (that is what bench/sql/check.sql checks), so v orders the log
--     like our global `seq` does, in 4 bytes instead of 8, and "room in the log" is
--     version + 1 < 1000 without counting rows.
--   * events (the outbox, session_events): the same columns (type, session, created_at,
--     delivery, attempts, pending_since, next_attempt_at, lease_until, last_error, body
--     without its id), with ONE index, the primary key on the number `id`: the order a
--     reader resumes in. pending_since / next_attempt_at are NULL while they equal
--     created_at (a new event); attempts is a smallint. Ours has six indexes (the key,
--     id, unnumbered, pending, settled, dead); a delivery worker's partial index of the
--     pending events would be empty here anyway (delivery 0: no webhook, as in the bench's
--     default runs).
--     NUMBERING: the event takes its number from a sequence in the insert. The service
--     inserts it unnumbered and its sequencer numbers it after commit with an UPDATE (so
--     that numbers follow commit order: a reader resuming after n never misses a lower
--     number committed later). A ceiling does not need that guarantee, so it skips that
--     UPDATE's cost (a second heap tuple and its index entries per event).
--     The body is text, as ours, but compressed with lz4 (cheaper in CPU) instead of the
--     default pglz when the row is large enough to be compressed (a ~2 KB body is).
--   * No foreign keys: every child row is written by the function below under its
--     session's row lock, so they hold by construction; a foreign key costs a lookup and
--     a KEY SHARE lock of the header per inserted log row.
--   * sessions has fillfactor 50: every change rewrites the header row, and free room on
--     its page keeps that update HOT (no index entry written). Ours is at 100: after the
--     seed every page is full, so a session's first change usually cannot be HOT and writes
--     new entries in all 3 of its indexes (measured: of the first changes of 2 000 freshly
--     seeded sessions, none was HOT in public.sessions, all were in lean.sessions).
--   * version is an integer (at most ~1000 changes: the log is bounded).
--   * idempotency_keys: the same columns with the fingerprint as its 32 bytes instead of
--     64 hex characters, keyed (scope, key, account_id) so that the lookup by (scope, key)
--     needs no second index. The unkeyed removal (design 1, and this function) never
--     touches it, as in the service; it is here so that the schema holds the same data.
--
-- lean.remove_member: the removal in ONE round trip, like bench.remove_member (design 3):
-- the same checks in the same order (visible to the caller's accounts / Chat / not ended
-- / member present and not original), plus room in the log (which the service checks
-- too: free here, from the version), the same writes (member deleted, log entry appended,
-- header's date_last_modified, last_modified_by and version), PLUS the outbox event:
-- ChatMemberRemoved with the wire body of crates/adapters/http/src/events.rs (type, date,
-- accountId, sessionId, actor, member, reason, leave, session: the SessionInfo after the
-- change, keys in dto.rs order, absent optionals left out) built in SQL. It returns that
-- SessionInfo as JSON text (the service's answer). `leave` compares lower(actor) with the
-- member's key (the domain parses the actor's user ID; the same for ASCII IDs). The header
-- is locked first: each later statement of a plpgsql function takes a fresh snapshot, so
-- what it reads is the state as of the lock (see bench/sql/schema.sql).
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS lean CASCADE;
CREATE SCHEMA lean;

CREATE TYPE lean.channel AS ENUM ('Voice', 'Chat', 'Fax');
CREATE TYPE lean.direction AS ENUM ('Incoming', 'Outgoing');
CREATE TYPE lean.dial_state AS ENUM ('None', 'Active');
CREATE TYPE lean.call_state AS ENUM ('Disconnected', 'Ringing', 'Connected', 'Hold', 'Passive');
CREATE TYPE lean.queue_state AS ENUM ('None', 'Queued', 'Ringing', 'Connected', 'Hold', 'Disconnected');
CREATE TYPE lean.hold_reason AS ENUM ('None', 'Transferring');
CREATE TYPE lean.member_call_state AS ENUM ('None', 'Ringing', 'Connected', 'Hold');
CREATE TYPE lean.member_role AS ENUM ('None', 'Caller', 'Agent', 'Transfer');
CREATE TYPE lean.event_type AS ENUM ('SessionCreated', 'ChatMemberAdded', 'ChatMemberRemoved', 'SessionEnded');

CREATE SEQUENCE lean.session_numbers AS bigint;

-- Fixed-width columns first (no alignment padding), then the texts.
CREATE TABLE lean.sessions (
    id                               text        PRIMARY KEY,
    n                                bigint      NOT NULL DEFAULT nextval('lean.session_numbers'),
    date_created                     timestamptz NOT NULL,
    date_last_modified               timestamptz NOT NULL,
    date_completed                   timestamptz,
    version                          integer     NOT NULL DEFAULT 0,
    channel                          lean.channel     NOT NULL,
    direction                        lean.direction   NOT NULL,
    dial_state                       lean.dial_state  NOT NULL,
    call_state                       lean.call_state  NOT NULL,
    queue_state                      lean.queue_state NOT NULL,
    hold_reason                      lean.hold_reason NOT NULL,
    ended                            boolean     NOT NULL,
    was_missed                       boolean     NOT NULL,
    account_id                       text        NOT NULL,
    created_by                       text        NOT NULL,
    last_modified_by                 text        NOT NULL,
    customer_breadcrumb              jsonb,      -- NULL: none ([])
    account_name                     text,
    customer_id                      text,
    customer_name                    text,
    endpoint_id                      text,
    endpoint_name                    text,
    destination                      text,
    to_address                       text,
    from_address                     text,
    from_name                        text,
    answered_by_name                 text,
    queue_member_id                  text,
    outcome                          text,
    call_sid                         text,
    console_data                     text,
    hold_queue_name                  text,
    held_by_user_id                  text,
    conference_sid                   text,
    display_name                     text,
    callback_number                  text,
    answered_by_id                   text,
    from_phone_number                text,
    most_recent_participant_call_sid text,
    ring_queue_id                    text
) WITH (fillfactor = 50);

CREATE TABLE lean.members (
    n                  bigint   NOT NULL,  -- the session (lean.sessions.n)
    position           smallint NOT NULL,  -- join order within the session
    is_original_member boolean  NOT NULL,
    muted              boolean  NOT NULL,
    call_state         lean.member_call_state NOT NULL,
    role               lean.member_role NOT NULL,
    identity_key       text     NOT NULL,  -- E.164 for a phone, lower case for a user ID
    identity           text     NOT NULL,  -- as written
    endpoint_id        text,
    display_name       text,
    avatar_url         text,
    call_sid           text,
    application_data   jsonb,              -- NULL: none ({})
    PRIMARY KEY (n, identity_key)
);

CREATE TABLE lean.log (
    n       bigint      NOT NULL,  -- the session
    date    timestamptz NOT NULL,
    v       integer     NOT NULL,  -- the version its change made: 0 for the opening entry
    message text        NOT NULL,
    PRIMARY KEY (n, v)
);

CREATE SEQUENCE lean.event_ids AS bigint;
CREATE TABLE lean.events (
    id              bigint      PRIMARY KEY DEFAULT nextval('lean.event_ids'),
    n               bigint      NOT NULL,  -- the session
    created_at      timestamptz NOT NULL,
    type            lean.event_type NOT NULL,
    delivery        smallint    NOT NULL,  -- 0 none, 1 pending, 2 delivered, 3 dead (as ours)
    attempts        smallint    NOT NULL DEFAULT 0,
    pending_since   timestamptz,           -- NULL: created_at
    next_attempt_at timestamptz,           -- NULL: pending_since
    lease_until     timestamptz,
    last_error      text,
    body            text        COMPRESSION lz4 NOT NULL  -- JSON without its id, as ours
);

CREATE TABLE lean.idempotency_keys (
    scope        text        NOT NULL,
    key          text        NOT NULL,
    account_id   text        NOT NULL,  -- '' when the request addressed no visible session
    expires_at   timestamptz NOT NULL,
    status       smallint    NOT NULL,
    fingerprint  bytea       NOT NULL,  -- SHA-256, 32 bytes
    content_type text        NOT NULL,
    body         bytea       NOT NULL,
    PRIMARY KEY (scope, key, account_id)
);
CREATE INDEX ON lean.idempotency_keys (expires_at); -- the purge, oldest first

-- The wire JSON is built as text with concat(), which skips NULLs: an absent optional's
-- `,"key":value` fragment is NULL (|| with NULL), so the key is left out as serde's
-- skip_serializing_if leaves it out, at no cost. Texts go through to_json (JSON escaping);
-- enumerations, dates and booleans need none. We measured this 2-3 times cheaper than
-- json_build_object + json_strip_nulls (which must be used to leave keys out, and parses
-- its input again). The keys come in dto.rs order, compact like serde's output.

-- A date on the wire (dto.rs wire_date): ISO 8601, UTC, milliseconds, Z.
CREATE FUNCTION lean.wire_date(d timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN to_char(d AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');

-- SessionMemberInfo (dto.rs).
CREATE FUNCTION lean.member_json(m lean.members) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN concat(
    '{"identity":', to_json(m.identity), ',"endpointId":' || to_json(m.endpoint_id),
    ',"displayName":' || to_json(m.display_name), ',"isOriginalMember":', m.is_original_member::text,
    ',"avatarUrl":' || to_json(m.avatar_url),
    ',"applicationData":', coalesce(m.application_data::text, '{}'),
    ',"callState":"', m.call_state, '","role":"', m.role, '"',
    ',"callSid":' || to_json(m.call_sid), ',"muted":', m.muted::text, '}');

CREATE FUNCTION lean.remove_member(
    p_id text, p_key text, p_actor text, p_actor_name text, p_now timestamptz, p_message text,
    p_accounts text[])
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    s lean.sessions%ROWTYPE;
    m lean.members%ROWTYPE;
    changed_at timestamptz;
    answer text;
BEGIN
    SELECT * INTO s FROM lean.sessions WHERE id = p_id AND account_id = ANY (p_accounts) FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'NotFound: session %', p_id;
    END IF;
    IF s.channel <> 'Chat' THEN RAISE EXCEPTION 'NotAChatSession'; END IF;
    IF s.ended THEN RAISE EXCEPTION 'SessionEnded'; END IF;
    DELETE FROM lean.members WHERE n = s.n AND identity_key = p_key AND NOT is_original_member
    RETURNING * INTO m;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'MemberNotFound or CannotRemoveOriginalMember: % in %', p_key, p_id;
    END IF;
    IF s.version + 1 >= 1000 THEN -- the log holds version + 1 entries; MAX_LOG_ENTRIES
        RAISE EXCEPTION 'SessionLimitReached';
    END IF;
    changed_at := greatest(date_trunc('milliseconds', p_now), s.date_last_modified);
    INSERT INTO lean.log (n, date, v, message) VALUES (s.n, changed_at, s.version + 1, p_message);
    UPDATE lean.sessions SET date_last_modified = changed_at, last_modified_by = p_actor,
                             version = version + 1
     WHERE id = p_id;
    s.date_last_modified := changed_at;
    s.last_modified_by := p_actor;
    s.version := s.version + 1;
    -- The SessionInfo (dto.rs) after the change: the header as updated, the log and the
    -- members as stored now. (Written here rather than as an SQL function of the header:
    -- such a function, with subqueries, is not inlined, and is planned again in every
    -- transaction; a plpgsql statement's plan is kept by the session.)
    answer := concat(
        '{"dialState":"', s.dial_state, '","callState":"', s.call_state,
        '","queueState":"', s.queue_state, '","accountId":', to_json(s.account_id),
        ',"accountName":' || to_json(s.account_name), ',"customerId":' || to_json(s.customer_id),
        ',"customerBreadcrumb":', coalesce(s.customer_breadcrumb::text, '[]'),
        ',"customerName":' || to_json(s.customer_name), ',"endpointId":' || to_json(s.endpoint_id),
        ',"endpointName":' || to_json(s.endpoint_name),
        ',"dateCompleted":"' || lean.wire_date(s.date_completed) || '"',
        ',"destination":' || to_json(s.destination), ',"toAddress":' || to_json(s.to_address),
        ',"fromAddress":' || to_json(s.from_address), ',"fromName":' || to_json(s.from_name),
        ',"answeredByName":' || to_json(s.answered_by_name),
        ',"queueMemberId":' || to_json(s.queue_member_id),
        ',"channel":"', s.channel, '","ended":', s.ended::text,
        ',"outcome":' || to_json(s.outcome), ',"callSid":' || to_json(s.call_sid),
        ',"consoleData":' || to_json(s.console_data), ',"holdQueueName":' || to_json(s.hold_queue_name),
        ',"heldByUserId":' || to_json(s.held_by_user_id), ',"holdReason":"', s.hold_reason, '"',
        ',"conferenceSid":' || to_json(s.conference_sid), ',"displayName":' || to_json(s.display_name),
        ',"log":[', (SELECT string_agg(concat('{"date":"', lean.wire_date(l.date), '","message":',
                                              to_json(l.message), '}'), ',' ORDER BY l.v)
                       FROM lean.log l WHERE l.n = s.n),
        '],"members":[', (SELECT string_agg(lean.member_json(k), ',' ORDER BY k.position)
                            FROM lean.members k WHERE k.n = s.n), ']',
        ',"callbackNumber":' || to_json(s.callback_number), ',"answeredById":' || to_json(s.answered_by_id),
        ',"direction":"', s.direction, '"', ',"fromPhoneNumber":' || to_json(s.from_phone_number),
        ',"mostRecentParticipantCallSid":' || to_json(s.most_recent_participant_call_sid),
        ',"wasMissed":', s.was_missed::text, ',"ringQueueId":' || to_json(s.ring_queue_id),
        ',"id":', to_json(s.id), ',"dateCreated":"', lean.wire_date(s.date_created),
        '","dateLastModified":"', lean.wire_date(s.date_last_modified),
        '","createdBy":', to_json(s.created_by), ',"lastModifiedBy":', to_json(s.last_modified_by), '}');
    INSERT INTO lean.events (n, created_at, type, delivery, body)
    VALUES (s.n, changed_at, 'ChatMemberRemoved', 0,
            concat('{"type":"ChatMemberRemoved","date":"', lean.wire_date(changed_at),
                   '","accountId":', to_json(s.account_id), ',"sessionId":', to_json(s.id),
                   ',"actor":{"userId":', to_json(p_actor), ',"name":', to_json(p_actor_name),
                   '},"member":', lean.member_json(m), ',"reason":null,"leave":',
                   (lower(p_actor) = m.identity_key)::text, ',"session":', answer, '}'));
    RETURN answer;
END
$$;

-- The seed: the rows bench/sql/seed.sql just wrote, in the order it wrote them.
INSERT INTO lean.sessions (
    id, date_created, date_last_modified, date_completed, version, channel, direction,
    dial_state, call_state, queue_state, hold_reason, ended, was_missed, account_id,
    created_by, last_modified_by, customer_breadcrumb, account_name, customer_id,
    customer_name, endpoint_id, endpoint_name, destination, to_address, from_address,
    from_name, answered_by_name, queue_member_id, outcome, call_sid, console_data,
    hold_queue_name, held_by_user_id, conference_sid, display_name, callback_number,
    answered_by_id, from_phone_number, most_recent_participant_call_sid, ring_queue_id)
SELECT id, date_created, date_last_modified, date_completed, version, channel::lean.channel,
       direction::lean.direction, dial_state::lean.dial_state, call_state::lean.call_state,
       queue_state::lean.queue_state, hold_reason::lean.hold_reason, ended, was_missed,
       account_id, created_by, last_modified_by,
       nullif(customer_breadcrumb, '[]'::jsonb), account_name, customer_id,
       customer_name, endpoint_id, endpoint_name, destination, to_address, from_address,
       from_name, answered_by_name, queue_member_id, outcome, call_sid, console_data,
       hold_queue_name, held_by_user_id, conference_sid, display_name, callback_number,
       answered_by_id, from_phone_number, most_recent_participant_call_sid, ring_queue_id
  FROM public.sessions
 ORDER BY ctid;

INSERT INTO lean.members (n, position, is_original_member, muted, call_state, role, identity_key,
                          identity, endpoint_id, display_name, avatar_url, call_sid, application_data)
SELECT s.n, row_number() OVER (PARTITION BY m.session_id ORDER BY m.position)::smallint,
       m.is_original_member, m.muted, m.call_state::lean.member_call_state, m.role::lean.member_role,
       m.identity_key, m.identity, m.endpoint_id, m.display_name, m.avatar_url, m.call_sid,
       nullif(m.application_data, '{}'::jsonb)
  FROM public.session_members m
  JOIN lean.sessions s ON s.id = m.session_id AND s.account_id = m.account_id
 ORDER BY m.position;

INSERT INTO lean.log (n, date, v, message)
SELECT s.n, l.date, (row_number() OVER (PARTITION BY l.session_id ORDER BY l.seq) - 1)::integer, l.message
  FROM public.session_log l
  JOIN lean.sessions s ON s.id = l.session_id AND s.account_id = l.account_id
 ORDER BY l.seq;

VACUUM (ANALYZE) lean.sessions, lean.members, lean.log, lean.events;
CHECKPOINT;
