//! Hand-written statements the store sends, each its own type so that diesel-async can
//! cache its prepared statement per connection (`diesel::sql_query` never is: it would
//! cost an extra round trip to prepare every time).
//!
//! The cache keys statements by type: never let two SQL texts share a type.

use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Bool, Jsonb, Nullable, Text, Timestamptz};
use evo_domain::Timestamp;
use evo_store_sql::{EventRecord, HeaderChange, MemberRecord};

macro_rules! fixed_statement {
    ($(#[$meta:meta])* $name:ident = $sql:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, QueryId)]
        pub(crate) struct $name;

        impl QueryFragment<Pg> for $name {
            fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
                out.push_sql($sql);
                Ok(())
            }
        }
    };
}

fixed_statement! {
    /// Opens a change's transaction (READ COMMITTED: each statement sees the latest commits).
    Begin = "BEGIN"
}
fixed_statement! {
    /// Opens a read's transaction: one snapshot for the header, members and log.
    BeginSnapshot = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
}
fixed_statement! {
    /// Commits.
    Commit = "COMMIT"
}
fixed_statement! {
    /// Rolls back.
    Rollback = "ROLLBACK"
}

/// The binds every change writes: the session header (only at the version read under the
/// lock) and the log entry.
#[derive(Debug, Clone)]
pub(crate) struct ChangeHeader {
    pub(crate) account_id: String,
    pub(crate) session_id: String,
    pub(crate) header: HeaderChange,
    pub(crate) version_read: i64,
    pub(crate) log_date: Timestamp,
    pub(crate) log_message: String,
    pub(crate) event: EventRecord,
}

impl ChangeHeader {
    /// `WITH s AS (update the header at the version read), l AS (append the log entry),
    /// e AS (append the event to the outbox)`. Every row is addressed by its key, account first.
    /// `numbered`: the event tries to take its number in its insert (see below).
    fn walk_ctes<'b>(&'b self, numbered: bool, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH s AS (");
        self.header.walk_versioned_update::<Pg>(
            &self.account_id,
            &self.session_id,
            &self.version_read,
            out,
        )?;
        out.push_sql(
            " RETURNING account_id, id), l AS (INSERT INTO session_log (account_id, session_id, date, message) \
             SELECT account_id, id, ",
        );
        out.push_bind_param::<Timestamptz, _>(&self.log_date)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.log_message)?;
        out.push_sql(
            " FROM s), e AS (INSERT INTO session_events (account_id, session_id, event_type, body, \
             created_at, delivery, pending_since, next_attempt_at",
        );
        out.push_sql(if numbered { ", id) SELECT " } else { ") SELECT " });
        walk_event(&self.event, EventSession::FromChange, out)?;
        if !numbered {
            out.push_sql(" FROM s)");
            return Ok(());
        }
        // Its number now (crate::outbox), only if no event of its session waits for one (an
        // older one would then get a higher number) and no one else is numbering: the
        // outbox's lock, tried after that check (CASE keeps the order), is then held until
        // this transaction ends.
        out.push_sql(", CASE WHEN NOT EXISTS (SELECT FROM session_events WHERE account_id = ");
        out.push_bind_param::<Text, _>(&self.account_id)?;
        out.push_sql(" AND session_id = ");
        out.push_bind_param::<Text, _>(&self.session_id)?;
        out.push_sql(" AND id IS NULL) THEN CASE WHEN pg_try_advisory_xact_lock(");
        out.push_bind_param::<BigInt, _>(&crate::outbox::SEQUENCER_LOCK)?;
        out.push_sql(") THEN nextval('session_event_ids') END END FROM s RETURNING id)");
        Ok(())
    }

    /// The closing select of every change: 1 when the session was still at the version read
    /// (and everything was written), 0 when it was not (and nothing was); the event's number
    /// when it got one; and how many notifications of that number to every instance were
    /// queued (sent at commit).
    fn walk_applied<'b>(&'b self, numbered: bool, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        if !numbered {
            out.push_sql(" SELECT (SELECT count(*) FROM s), NULL::bigint, 0::bigint");
            return Ok(());
        }
        out.push_sql(
            " SELECT (SELECT count(*) FROM s), (SELECT max(id) FROM e), \
             (SELECT count(*) FROM (SELECT pg_notify(",
        );
        out.push_bind_param::<Text, _>(&crate::outbox::CHANNEL)?;
        out.push_sql(", id::text) FROM e WHERE id IS NOT NULL) notified)");
        Ok(())
    }
}

/// Where an outbox row's session ID comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum EventSession {
    /// The `id` of the `s` CTE: the row exists only when the change applied.
    FromChange,
    /// A bind parameter.
    Bound,
}

/// The values of an outbox row, after `SELECT`.
fn walk_event<'b>(
    event: &'b EventRecord,
    session: EventSession,
    out: &mut AstPass<'_, 'b, Pg>,
) -> QueryResult<()> {
    out.push_bind_param::<Text, _>(&event.account_id)?;
    match session {
        EventSession::FromChange => out.push_sql(", id, "),
        EventSession::Bound => {
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(&event.session_id)?;
            out.push_sql(", ");
        }
    }
    out.push_bind_param::<Text, _>(&event.event_type)?;
    out.push_sql(", ");
    out.push_bind_param::<Text, _>(&event.body)?;
    out.push_sql(", ");
    out.push_bind_param::<Timestamptz, _>(&event.created_at)?;
    out.push_sql(", ");
    out.push_bind_param::<diesel::sql_types::SmallInt, _>(&event.delivery)?;
    out.push_sql(", ");
    out.push_bind_param::<Timestamptz, _>(&event.created_at)?;
    out.push_sql(", ");
    out.push_bind_param::<Timestamptz, _>(&event.created_at)?;
    Ok(())
}

/// A new session's `SessionCreated` event (its own statement: a new session has no `s` CTE).
#[derive(Debug, Clone, QueryId)]
pub(crate) struct InsertEvent {
    pub(crate) event: EventRecord,
}

impl QueryFragment<Pg> for InsertEvent {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO session_events (account_id, session_id, event_type, body, created_at, delivery, \
             pending_since, next_attempt_at) SELECT ",
        );
        walk_event(&self.event, EventSession::Bound, &mut out)
    }
}

/// A removal: header, log entry, and the member's row deleted.
#[derive(Debug, Clone)]
pub(crate) struct RemoveMemberWrite<const NUMBERED: bool> {
    pub(crate) change: ChangeHeader,
    pub(crate) identity_key: String,
}

impl<const NUMBERED: bool> QueryFragment<Pg> for RemoveMemberWrite<NUMBERED> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.change.walk_ctes(NUMBERED, &mut out)?;
        // The member by its unique key (account, session, identity), only if the header was
        // written (the session still at the version read).
        out.push_sql(", m AS (DELETE FROM session_members WHERE account_id = ");
        out.push_bind_param::<Text, _>(&self.change.account_id)?;
        out.push_sql(" AND session_id = ");
        out.push_bind_param::<Text, _>(&self.change.session_id)?;
        out.push_sql(" AND identity_key = ");
        out.push_bind_param::<Text, _>(&self.identity_key)?;
        out.push_sql(" AND EXISTS (SELECT FROM s))");
        self.change.walk_applied(NUMBERED, &mut out)?;
        Ok(())
    }
}

/// An invite: header, log entry, and the member's row inserted (after every other).
#[derive(Debug, Clone)]
pub(crate) struct InviteMemberWrite<const NUMBERED: bool> {
    pub(crate) change: ChangeHeader,
    pub(crate) member: MemberRecord,
}

impl<const NUMBERED: bool> QueryFragment<Pg> for InviteMemberWrite<NUMBERED> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let m = &self.member;
        self.change.walk_ctes(NUMBERED, &mut out)?;
        out.push_sql(
            ", m AS (INSERT INTO session_members (account_id, session_id, identity, identity_key, \
             endpoint_id, display_name, is_original_member, avatar_url, application_data, call_state, role, \
             call_sid, muted) SELECT account_id, id, ",
        );
        out.push_bind_param::<Text, _>(&m.identity)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&m.identity_key)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&m.endpoint_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&m.display_name)?;
        out.push_sql(", ");
        out.push_bind_param::<Bool, _>(&m.is_original_member)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&m.avatar_url)?;
        out.push_sql(", ");
        out.push_bind_param::<Jsonb, _>(&m.application_data.0)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&m.call_state)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&m.role)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&m.call_sid)?;
        out.push_sql(", ");
        out.push_bind_param::<Bool, _>(&m.muted)?;
        out.push_sql(" FROM s)");
        self.change.walk_applied(NUMBERED, &mut out)?;
        Ok(())
    }
}

/// An end: header (ended, dateCompleted, callState) and log entry.
#[derive(Debug, Clone)]
pub(crate) struct EndSessionWrite<const NUMBERED: bool> {
    pub(crate) change: ChangeHeader,
}

impl<const NUMBERED: bool> QueryFragment<Pg> for EndSessionWrite<NUMBERED> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.change.walk_ctes(NUMBERED, &mut out)?;
        self.change.walk_applied(NUMBERED, &mut out)?;
        Ok(())
    }
}

// A change's write with and without the numbering are two SQL texts, so two types (the
// statement cache keys by type): the `NUMBERED` parameter.
macro_rules! counting_query {
    ($($name:ident),+) => {
        $(impl<const NUMBERED: bool> Query for $name<NUMBERED> {
            type SqlType = (BigInt, Nullable<BigInt>, BigInt);
        }

        impl<const NUMBERED: bool> QueryId for $name<NUMBERED> {
            type QueryId = Self;
            const HAS_STATIC_QUERY_ID: bool = true;
        })+
    };
}
counting_query!(RemoveMemberWrite, InviteMemberWrite, EndSessionWrite);

/// All members of a new session in one statement whose text does not depend on how many
/// there are (so it is prepared once per connection): one array per column, unnested in
/// order, so `position` follows the join order.
#[derive(Debug, Clone, Default, QueryId)]
pub(crate) struct InsertMembers {
    account_id: String,
    session_id: String,
    identity: Vec<String>,
    identity_key: Vec<String>,
    endpoint_id: Vec<Option<String>>,
    display_name: Vec<Option<String>>,
    is_original_member: Vec<bool>,
    avatar_url: Vec<Option<String>>,
    application_data: Vec<serde_json::Value>,
    call_state: Vec<String>,
    role: Vec<String>,
    call_sid: Vec<Option<String>>,
    muted: Vec<bool>,
}

impl InsertMembers {
    pub(crate) fn new(
        account_id: String,
        session_id: String,
        members: impl IntoIterator<Item = MemberRecord>,
    ) -> Self {
        let mut columns = Self { account_id, session_id, ..Self::default() };
        for m in members {
            columns.identity.push(m.identity);
            columns.identity_key.push(m.identity_key);
            columns.endpoint_id.push(m.endpoint_id);
            columns.display_name.push(m.display_name);
            columns.is_original_member.push(m.is_original_member);
            columns.avatar_url.push(m.avatar_url);
            columns.application_data.push(m.application_data.0);
            columns.call_state.push(m.call_state);
            columns.role.push(m.role);
            columns.call_sid.push(m.call_sid);
            columns.muted.push(m.muted);
        }
        columns
    }
}

impl QueryFragment<Pg> for InsertMembers {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO session_members (account_id, session_id, identity, identity_key, endpoint_id, \
             display_name, is_original_member, avatar_url, application_data, call_state, role, call_sid, \
             muted) SELECT ",
        );
        out.push_bind_param::<Text, _>(&self.account_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.session_id)?;
        out.push_sql(
            ", u.identity, u.identity_key, u.endpoint_id, u.display_name, u.is_original_member, u.avatar_url, \
             u.application_data, u.call_state, u.role, u.call_sid, u.muted FROM unnest(",
        );
        out.push_bind_param::<Array<Text>, _>(&self.identity)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.identity_key)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.endpoint_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.display_name)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Bool>, _>(&self.is_original_member)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.avatar_url)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Jsonb>, _>(&self.application_data)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.call_state)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.role)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.call_sid)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Bool>, _>(&self.muted)?;
        out.push_sql(
            ") WITH ORDINALITY AS u(identity, identity_key, endpoint_id, display_name, is_original_member, \
             avatar_url, application_data, call_state, role, call_sid, muted, n) ORDER BY u.n",
        );
        Ok(())
    }
}

/// The whole log of a new session in one statement, in order (see [`InsertMembers`]).
#[derive(Debug, Clone, QueryId)]
pub(crate) struct InsertLog {
    pub(crate) account_id: String,
    pub(crate) session_id: String,
    pub(crate) dates: Vec<Timestamp>,
    pub(crate) messages: Vec<String>,
}

impl QueryFragment<Pg> for InsertLog {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("INSERT INTO session_log (account_id, session_id, date, message) SELECT ");
        out.push_bind_param::<Text, _>(&self.account_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.session_id)?;
        out.push_sql(", u.date, u.message FROM unnest(");
        out.push_bind_param::<Array<Timestamptz>, _>(&self.dates)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.messages)?;
        out.push_sql(") WITH ORDINALITY AS u(date, message, n) ORDER BY u.n");
        Ok(())
    }
}

/// Keeps a keyed request's answer; an expired answer under the same key is replaced. Its own
/// type, so that it is cached and pipelines with the write and `COMMIT` (diesel's upsert
/// builder is prepared anew each time: one more round trip, seen in tests/round_trips.rs).
#[derive(Debug, Clone, QueryId)]
pub(crate) struct KeepAnswer {
    /// The account of the session the request addressed ('' when it addressed none the
    /// caller sees): see migrations/postgres/2026-12-01-000002_keys_lead_with_account_id.
    pub(crate) account_id: String,
    pub(crate) scope: String,
    pub(crate) key: String,
    pub(crate) fingerprint: String,
    pub(crate) status: i32,
    pub(crate) content_type: String,
    pub(crate) body: Vec<u8>,
    pub(crate) expires_at: Timestamp,
}

impl QueryFragment<Pg> for KeepAnswer {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO idempotency_keys (account_id, scope, key, fingerprint, status, content_type, body, \
             expires_at) VALUES (",
        );
        out.push_bind_param::<Text, _>(&self.account_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.scope)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.key)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.fingerprint)?;
        out.push_sql(", ");
        out.push_bind_param::<diesel::sql_types::Integer, _>(&self.status)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.content_type)?;
        out.push_sql(", ");
        out.push_bind_param::<diesel::sql_types::Binary, _>(&self.body)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamptz, _>(&self.expires_at)?;
        out.push_sql(
            ") ON CONFLICT (account_id, scope, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, \
             status = EXCLUDED.status, content_type = EXCLUDED.content_type, body = EXCLUDED.body, \
             expires_at = EXCLUDED.expires_at",
        );
        Ok(())
    }
}
