//! [`PgSessionRepository`]: sessions in PostgreSQL, each change one short transaction.
//!
//! # Round trips
//!
//! The store drives its transactions itself (not through diesel's transaction manager) so
//! that it can pipeline them: `AsyncPgConnection` sends the statements of futures polled
//! together without waiting for each answer, and the server runs them in the order sent.
//! With warm prepared statements, a change (removal, invite or end) takes **two round trips**:
//!
//! 1. `BEGIN`, `SELECT … FROM sessions … FOR UPDATE`, the members select and the log select,
//!    pipelined. The server runs the two loads only once the row lock is granted, and each
//!    statement takes a fresh snapshot (READ COMMITTED), so they see the state as of the lock.
//! 2. One writing statement (a CTE that updates the session header, deletes or inserts the
//!    member and appends the log entry) and `COMMIT`, pipelined.
//!
//! Between the two, [`Session::apply`] decides in the domain. That is the floor for a rule
//! decided outside the database: one trip to read under the lock, one to write and commit.
//! A refusal costs two trips too (the read, then `ROLLBACK`). Checking a connection out of
//! the pool costs none (fast recycling; closed connections are still noticed and replaced).
//! A `find` takes one trip (`BEGIN … READ ONLY`, the three selects and `COMMIT`, pipelined in
//! one snapshot), and so does an `insert` (`BEGIN`, the session row, all members and all log
//! entries as one array-unnesting statement each, `COMMIT`). `tests/round_trips.rs` checks
//! these counts through a proxy that delays every answer.
//!
//! The order statements are sent in is the order their futures are first polled:
//! `futures_util::join!` polls in argument order, every statement goes through
//! diesel-async's statement cache lock (a fair, first-come first-served mutex, held while a
//! statement is prepared), and a cached statement is sent during the poll that takes the lock.
//!
//! Every statement is a cacheable prepared statement (see the `statements` module): a
//! connection's first use of each costs one more trip to prepare it. With the statement cache
//! turned off (PgBouncer in transaction mode), every statement is prepared each time and the
//! prepares do not pipeline; transaction control then goes as simple queries (nothing is
//! prepared outside a transaction) and `COMMIT` waits for the write. Measured that way, a
//! removal takes 7 trips, a refusal 5 and a find 5.
//!
//! The write is guarded by the session's `version`: it only applies to the version read under
//! the lock, so even a reordering of the pipeline could never lose an update (it would show
//! as a conflict, and the change is retried).
//!
//! # A lost answer to COMMIT
//!
//! The locking read also returns the transaction's ID (`txid_current()`). When the answer to
//! the write and COMMIT is lost (the connection drops, or the deadline passes after they were
//! sent), the store asks `txid_status` on another connection until it says `committed` or
//! `aborted` (within one query deadline): committed answers the session as changed, aborted
//! answers `Unavailable` (nothing applied), and only when no answer comes is it
//! `OutcomeUnknown`. A new session is looked up the same way (and by its ID).
//!
//! A transaction ID is unique only while the server that gave it out runs: after a crash,
//! an ID whose commit never reached the disk is handed out again (found by the PostgreSQL
//! crash test). So the read also returns `pg_postmaster_start_time()`; when the server has
//! restarted since, recovery has settled the old transaction and the store looks for what
//! it wrote instead (the change's log entry, or the new session's row).
//!
//! A connection whose transaction may still be open (an error while rolling back, a timeout,
//! a dropped future) is never returned to the pool: it is closed, and the server rolls back.

use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use evo_domain::SessionEvent;
use evo_domain::{
    Actor, IfVersion, Session, SessionCommand, SessionError, SessionId, Timestamp, VisibleAccounts,
};
use evo_ports::{Idempotency, KeyedRefusal, RepositoryError, SessionRepository, UpdateError};
use evo_store_sql::{
    ChangeRequest, ChangeWrites, EventRecord, KeyRecord, LogRecord, MemberRecord, MemberWrite, Outbox,
    Refusal, SessionRecord, decide, restore_session,
};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::config::PgConfig;
use crate::error::{Failure, PgStoreError, classify, is_unique_violation, pool_failure};
use crate::schema::{idempotency_keys, session_log, session_members, sessions};
use crate::statements::{
    Begin, BeginSnapshot, ChangeHeader, Commit, EndSessionWrite, InsertEvent, InsertLog, InsertMembers,
    InviteMemberWrite, KeepAnswer, RemoveMemberWrite, Rollback,
};

/// How often the status of a transaction whose COMMIT's answer was lost is asked.
const STATUS_POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How often a change is tried when it meets a transient conflict.
const MAX_ATTEMPTS: usize = 3;
/// The primary key constraint of `sessions`.
const SESSIONS_PKEY: &str = "sessions_pkey";
/// The unique (account, session, identity) constraint of `session_members`.
const MEMBER_UNIQUE: &str = "session_members_identity_key_unique";

type Loaded = (SessionRecord, Vec<MemberRecord>, Vec<LogRecord>);

/// The account a keyed answer is kept under when its request addressed no session the caller
/// sees (see migrations/postgres/2026-12-01-000002_keys_lead_with_account_id).
const NO_ACCOUNT: &str = "";

#[diesel::declare_sql_function]
extern "SQL" {
    /// The current transaction's ID (assigning one): what [`txid_status`] is asked about
    /// when the answer to the COMMIT is lost.
    fn txid_current() -> diesel::sql_types::BigInt;
    /// `committed`, `aborted` or `in progress` for a recent transaction ID (PostgreSQL 10+),
    /// made for exactly this: finding out whether a COMMIT whose answer was lost went through.
    fn txid_status(xid: diesel::sql_types::BigInt) -> diesel::sql_types::Nullable<Text>;
    /// When the server started: a transaction ID is only unique between two restarts (after a
    /// crash, an ID whose commit never reached the disk is handed out again).
    fn pg_postmaster_start_time() -> diesel::sql_types::Timestamptz;
    /// Takes the advisory lock of two numbers until the transaction ends, or answers false at
    /// once: the lock of an Idempotency-Key ([`crate::advisory_locks`]).
    #[sql_name = "pg_try_advisory_xact_lock"]
    fn try_key_lock(
        high: diesel::sql_types::Integer,
        low: diesel::sql_types::Integer,
    ) -> diesel::sql_types::Bool;
}

/// A transaction's ID, with the start of the server that gave it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ServerTxid {
    xid: i64,
    server_started: Timestamp,
}

/// What a committed change left in the data, to look for when the server restarted after
/// the COMMIT was sent (its transaction ID then proves nothing).
#[derive(Debug, Clone)]
enum Evidence {
    /// The change's log entry.
    LogEntry { account_id: String, session_id: String, date: Timestamp, message: String },
    /// A new session's row.
    Session { account_id: String, id: String },
}

/// Sessions in PostgreSQL. Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct PgSessionRepository {
    pool: Pool<AsyncPgConnection>,
    /// One connection of its own for readiness, so that a saturated request pool does not make
    /// every instance look unready at once (a balancer would then have nowhere to send work).
    health_pool: Pool<AsyncPgConnection>,
    /// What the request pool was built from, so that [`per_worker`](Self::per_worker) can
    /// build more.
    config: std::sync::Arc<PgConfig>,
    query_deadline: Duration,
    protocol: Protocol,
    outbox: Outbox,
    /// Changes of this instance in flight (shared by every worker's copy): a change alone
    /// tries to number its event itself (see `ChangeWrite::of`).
    changes_in_flight: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Numbers committed events and tells every instance (see [`crate::outbox`]).
    pub(crate) events: crate::outbox::EventNews,
}

impl std::fmt::Debug for PgSessionRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSessionRepository").field("pool", &self.pool.status()).finish()
    }
}

impl PgSessionRepository {
    /// Builds the pool and checks that PostgreSQL answers (one connection is opened).
    /// Does not migrate: call [`run_migrations`](crate::run_migrations) first.
    pub async fn connect(config: PgConfig) -> Result<Self, PgStoreError> {
        let repository = Self {
            pool: build_pool(&config)?,
            health_pool: build_pool(&PgConfig { pool_size: 1, ..config.clone() })?,
            config: std::sync::Arc::new(config.clone()),
            query_deadline: config.query_deadline(),
            protocol: if config.prepared_statement_cache {
                Protocol::Pipelined
            } else {
                Protocol::Unprepared
            },
            outbox: Outbox::default(),
            changes_in_flight: Default::default(),
            events: crate::outbox::EventNews::start(&config)?,
        };
        repository.ping().await.map_err(|error| PgStoreError::Connect {
            url: config.redacted_url(),
            reason: error.to_string(),
        })?;
        Ok(repository)
    }

    /// The same store, writing each change's event as `outbox` says.
    pub fn with_outbox(self, outbox: Outbox) -> Self {
        Self { outbox, ..self }
    }

    /// The same store once per worker, each with a request pool of its own; the pool size
    /// is shared out between them (at least one connection each), so the instance still
    /// opens at most about `pool_size` request connections.
    ///
    /// Why: a connection's driver task runs on the runtime that opened it. Pools open
    /// connections lazily, on the runtime of the request that first needs one, so a pool
    /// used by one actix worker only (a single-threaded runtime) has all its connections
    /// driven on that worker's thread. A pool shared by every worker hands a request
    /// connections driven on another thread: each round trip then wakes that thread twice
    /// (eventfd writes, futexes, context switches; docs/performance.md). Everything else
    /// (health pool, outbox, event news) stays shared.
    pub fn per_worker(&self, workers: usize) -> Result<Vec<Self>, PgStoreError> {
        let workers = workers.max(1);
        let size = self.config.pool_size.div_ceil(workers).max(1);
        let config = PgConfig { pool_size: size, ..(*self.config).clone() };
        (0..workers).map(|_| Ok(Self { pool: build_pool(&config)?, ..self.clone() })).collect()
    }

    async fn lease(&self) -> Result<Lease, Failure> {
        self.pool.get().await.map(Lease::new).map_err(pool_failure)
    }

    /// Finds out whether the transaction `txid`, whose COMMIT's answer was lost, committed:
    /// `Ok` if it did, `Unavailable` if it rolled back, `OutcomeUnknown` if no connection
    /// could tell within one query deadline. `lost` says what happened to the answer.
    ///
    /// While the server that gave out the ID runs, `txid_status` is the truth. Once it has
    /// restarted, the ID may belong to another transaction, but recovery has settled every
    /// transaction of the old server: what the change wrote (`evidence`) is there or not.
    async fn settle_lost_commit(
        &self,
        txid: ServerTxid,
        evidence: Evidence,
        lost: String,
    ) -> Result<(), Failure> {
        let xid = txid.xid;
        let asking = async {
            loop {
                match self.commit_status(txid, &evidence).await {
                    Ok(CommitStatus::Committed) => return Ok(()),
                    Ok(CommitStatus::RolledBack) => {
                        return Err(Failure::Unavailable(format!("{lost}; the change was rolled back")));
                    }
                    // "in progress": the server has not finished the COMMIT (or not yet seen
                    // the connection drop, after which it rolls back).
                    Ok(CommitStatus::InProgress) => {}
                    Ok(CommitStatus::Unknown) => {
                        return Err(Failure::OutcomeUnknown(format!("{lost}; transaction {xid} is unknown")));
                    }
                    Err(failure) => {
                        tracing::debug!(?failure, xid, "cannot ask for a transaction's status yet")
                    }
                }
                tokio::time::sleep(STATUS_POLL_INTERVAL).await;
            }
        };
        tokio::time::timeout(self.query_deadline, asking).await.unwrap_or_else(|_| {
            Err(Failure::OutcomeUnknown(format!(
                "{lost}; no answer about transaction {xid} within {:?}",
                self.query_deadline
            )))
        })
    }

    /// Settles a new session's lost COMMIT: by its transaction ID when that arrived, else by
    /// whether the session is there (its ID is new, so only this insert could have made it).
    async fn settle_lost_insert(
        &self,
        session: &Session,
        txid: Option<ServerTxid>,
        lost: String,
    ) -> Result<(), Failure> {
        let evidence = Evidence::Session {
            account_id: session.account_id.as_str().to_owned(),
            id: session.id.as_str().to_owned(),
        };
        if let Some(txid) = txid {
            return self.settle_lost_commit(txid, evidence, lost).await;
        }
        let account = VisibleAccounts::Only(std::slice::from_ref(&session.account_id));
        match self.find_among(&session.id, account).await {
            Ok(Some(_)) => Ok(()),
            _ => Err(Failure::OutcomeUnknown(format!("{lost}; whether the session was stored is not known"))),
        }
    }

    /// [`SessionRepository::find`] among `accounts`: one snapshot, one round trip.
    async fn find_among(
        &self,
        id: &SessionId,
        accounts: VisibleAccounts<'_>,
    ) -> Result<Option<Session>, RepositoryError> {
        let lease = self.lease().await.map_err(Failure::into_repository_error)?;
        let loaded = self
            .within_deadline(find_session(lease.connection(), self.protocol, id.as_str(), accounts))
            .await;
        let loaded = lease.settle(loaded).map_err(Failure::into_repository_error)?;
        match loaded {
            None => Ok(None),
            Some((header, members, log)) => restore_session(header, members, log)
                .map(Some)
                .map_err(|corrupt| RepositoryError::Internal(corrupt.to_string())),
        }
    }

    async fn commit_status(&self, txid: ServerTxid, evidence: &Evidence) -> Result<CommitStatus, Failure> {
        let lease = self.lease().await?;
        let protocol = self.protocol;
        let status = async {
            let connection = lease.connection();
            // In a transaction: behind PgBouncer a prepared statement must stay on one server.
            control(connection, protocol, Control::Begin).await.map_err(|e| classify(&e))?;
            let status = Self::ask_commit_status(connection, txid, evidence).await;
            control(connection, protocol, Control::Commit).await.map_err(|e| classify(&e))?;
            status
        }
        .await;
        lease.settle(status)
    }

    async fn ask_commit_status(
        mut connection: &AsyncPgConnection,
        txid: ServerTxid,
        evidence: &Evidence,
    ) -> Result<CommitStatus, Failure> {
        {
            let started = diesel::select(pg_postmaster_start_time())
                .get_result::<Timestamp>(&mut connection)
                .await
                .map_err(|e| classify(&e))?;
            if started != txid.server_started {
                return Ok(if evidence_is_stored(connection, evidence).await? {
                    CommitStatus::Committed
                } else {
                    CommitStatus::RolledBack
                });
            }
            let status = diesel::select(txid_status(txid.xid))
                .get_result::<Option<String>>(&mut connection)
                .await
                .map_err(|e| classify(&e))?;
            Ok(match status.as_deref() {
                Some("committed") => CommitStatus::Committed,
                Some("aborted") => CommitStatus::RolledBack,
                Some(_) => CommitStatus::InProgress,
                None => CommitStatus::Unknown,
            })
        }
    }

    /// Awaits `work` within the query deadline (a silent network must not hang a request).
    async fn within_deadline<T>(&self, work: impl Future<Output = Result<T, Failure>>) -> Result<T, Failure> {
        tokio::time::timeout(self.query_deadline, work).await.unwrap_or_else(|_| {
            Err(Failure::Unavailable(format!("PostgreSQL did not answer within {:?}", self.query_deadline)))
        })
    }
}

/// Builds the deadpool of `AsyncPgConnection`s: sized and timed from `config`; each new
/// connection sets `application_name`, `statement_timeout` and
/// `idle_in_transaction_session_timeout`, and turns off its statement cache if asked.
pub(crate) fn build_pool(config: &PgConfig) -> Result<Pool<AsyncPgConnection>, PgStoreError> {
    let settings = ConnectionSettings::of(config);
    let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
    // No `SELECT 1` before each checkout: it would cost a round trip per operation. A
    // connection the server or network closed is still noticed (`is_closed`) and replaced,
    // and a failure on a half-open one is answered as `Unavailable` and drops it.
    manager_config.recycling_method = RecyclingMethod::Fast;
    manager_config.custom_setup = Box::new(move |url| settings.clone().establish(url.to_owned()).boxed());
    let manager = AsyncDieselConnectionManager::new_with_config(config.url.clone(), manager_config);
    Pool::builder(manager)
        .max_size(config.pool_size.max(1))
        .wait_timeout(Some(config.wait_timeout))
        .create_timeout(Some(config.create_timeout))
        .recycle_timeout(Some(config.recycle_timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| PgStoreError::Pool(e.to_string()))
}

#[derive(Debug, Clone)]
struct ConnectionSettings {
    application_name: String,
    statement_timeout_ms: u128,
    idle_in_transaction_timeout_ms: u128,
    statement_cache: bool,
}

impl ConnectionSettings {
    fn of(config: &PgConfig) -> Self {
        Self {
            application_name: config.application_name.clone(),
            statement_timeout_ms: config.statement_timeout.as_millis().max(1),
            // A client that vanished mid-transaction must not hold a session's lock for long.
            idle_in_transaction_timeout_ms: config.query_deadline().as_millis(),
            statement_cache: config.prepared_statement_cache,
        }
    }

    async fn establish(self, url: String) -> diesel::ConnectionResult<AsyncPgConnection> {
        if self.statement_cache {
            let mut connection = AsyncPgConnection::establish(&url).await?;
            self.configure(&mut connection).await?;
            return Ok(connection);
        }
        // Behind PgBouncer in transaction mode every round trip outside a transaction may go
        // to another server connection, and a statement prepared in one trip is then missing
        // in the next ("prepared statement sN does not exist", found by the PgBouncer
        // contract suite): so the whole setup, diesel-async's own included, runs in one
        // transaction, on one server connection.
        let (client, driver) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
        tokio::spawn(async move {
            if let Err(error) = driver.await {
                tracing::debug!(%error, "a PostgreSQL connection ended");
            }
        });
        let setup_error = |e: tokio_postgres::Error| diesel::ConnectionError::BadConnection(e.to_string());
        client.batch_execute("BEGIN").await.map_err(setup_error)?;
        let mut connection = AsyncPgConnection::try_from(client).await?;
        connection.set_prepared_statement_cache_size(diesel::connection::CacheSize::Disabled);
        self.configure(&mut connection).await?;
        connection
            .batch_execute("COMMIT")
            .await
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
        Ok(connection)
    }

    /// Names the connection and bounds its statements. Behind PgBouncer (no statement cache)
    /// only the name: session settings would stay on the server connection for whichever
    /// client gets it next, so timeouts belong on the database role there (docs/operations.md).
    async fn configure(&self, mut connection: &mut AsyncPgConnection) -> diesel::ConnectionResult<()> {
        // Bound values, not text pasted into SQL: the application name comes from config.
        let configured = if self.statement_cache {
            diesel::sql_query(
                "SELECT set_config('application_name', $1, false), \
                        set_config('statement_timeout', $2, false), \
                        set_config('idle_in_transaction_session_timeout', $3, false)",
            )
            .bind::<Text, _>(self.application_name.clone())
            .bind::<Text, _>(format!("{}ms", self.statement_timeout_ms))
            .bind::<Text, _>(format!("{}ms", self.idle_in_transaction_timeout_ms))
            .execute(&mut connection)
            .await
        } else {
            diesel::sql_query("SELECT set_config('application_name', $1, false)")
                .bind::<Text, _>(self.application_name.clone())
                .execute(&mut connection)
                .await
        };
        configured.map(|_| ()).map_err(diesel::ConnectionError::CouldntSetupConfiguration)
    }
}

/// A pooled connection that goes back to the pool only once known to be outside any
/// transaction; otherwise (an error mid-transaction, a timeout, a dropped future) it is
/// closed, and the server rolls back whatever it held.
struct Lease {
    connection: Option<Object<AsyncPgConnection>>,
    idle: bool,
}

impl Lease {
    fn new(connection: Object<AsyncPgConnection>) -> Self {
        Self { connection: Some(connection), idle: false }
    }

    fn connection(&self) -> &AsyncPgConnection {
        self.connection.as_deref().expect("a lease holds its connection until dropped")
    }

    /// Marks the connection as outside any transaction, so that it goes back to the pool.
    fn release_to_pool(&mut self) {
        self.idle = true;
    }

    /// Keeps the connection only when `result` is a success: after a failure its
    /// transaction state is not known for sure.
    fn settle<T>(mut self, result: Result<T, Failure>) -> Result<T, Failure> {
        if result.is_ok() {
            self.release_to_pool();
        }
        result
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take()
            && !self.idle
        {
            drop(Object::take(connection));
        }
    }
}

/// The three pending loads of one session: header, members, log.
struct Loads<'c, H> {
    header: BoxFuture<'c, QueryResult<Option<H>>>,
    members: BoxFuture<'c, QueryResult<Vec<MemberRecord>>>,
    log: BoxFuture<'c, QueryResult<Vec<LogRecord>>>,
}

/// The header of a locked session and the ID of the transaction that locked it (with its
/// server's start).
type LockedHeader = (SessionRecord, i64, Timestamp);

/// What the server says of a transaction whose COMMIT's answer was lost.
enum CommitStatus {
    Committed,
    RolledBack,
    InProgress,
    Unknown,
}

/// Whether what a change wrote is in the database (asked after a server restart).
async fn evidence_is_stored(
    mut connection: &AsyncPgConnection,
    evidence: &Evidence,
) -> Result<bool, Failure> {
    let count = match evidence {
        Evidence::LogEntry { account_id, session_id, date, message } => {
            session_log::table
                .filter(session_log::account_id.eq(account_id))
                .filter(session_log::session_id.eq(session_id))
                .filter(session_log::date.eq(date))
                .filter(session_log::message.eq(message))
                .count()
                .get_result::<i64>(&mut connection)
                .await
        }
        Evidence::Session { account_id, id } => {
            sessions::table
                .filter(sessions::account_id.eq(account_id))
                .filter(sessions::id.eq(id))
                .count()
                .get_result::<i64>(&mut connection)
                .await
        }
    };
    count.map(|n| n > 0).map_err(|e| classify(&e))
}

/// The accounts a store lookup may return, as bound: `None` for every account.
fn account_list(accounts: VisibleAccounts<'_>) -> Option<Vec<String>> {
    match accounts {
        VisibleAccounts::All => None,
        VisibleAccounts::Only(accounts) => Some(accounts.iter().map(|a| a.as_str().to_owned()).collect()),
    }
}

/// The loads of a read: the header as it is, in the read's snapshot, among `accounts`.
fn read_futures<'c>(
    mut connection: &'c AsyncPgConnection,
    id: &str,
    accounts: VisibleAccounts<'_>,
) -> Loads<'c, SessionRecord> {
    let by_id = sessions::table.filter(sessions::id.eq(id.to_owned()));
    let columns = evo_store_sql::session_columns!(sessions);
    let accounts = account_list(accounts);
    let header = match accounts.clone() {
        None => by_id.select(columns).get_result::<SessionRecord>(&mut connection).boxed(),
        Some(accounts) => by_id
            .filter(sessions::account_id.eq_any(accounts))
            .select(columns)
            .get_result::<SessionRecord>(&mut connection)
            .boxed(),
    };
    let (members, log) = member_and_log_futures(connection, id, accounts);
    Loads { header: header.map(|r| r.optional()).boxed(), members, log }
}

/// The loads of a change: the header locked `FOR UPDATE`, but only among the accounts the
/// actor sees, so that another account's session is never locked (it reads as missing).
fn lock_futures<'c>(
    mut connection: &'c AsyncPgConnection,
    id: &str,
    accounts: VisibleAccounts<'_>,
) -> Loads<'c, LockedHeader> {
    let by_id = sessions::table.filter(sessions::id.eq(id.to_owned()));
    let columns = (evo_store_sql::session_columns!(sessions), txid_current(), pg_postmaster_start_time());
    let accounts = account_list(accounts);
    let header = match accounts.clone() {
        None => by_id.select(columns).for_update().get_result::<LockedHeader>(&mut connection).boxed(),
        Some(accounts) => by_id
            .filter(sessions::account_id.eq_any(accounts))
            .select(columns)
            .for_update()
            .get_result::<LockedHeader>(&mut connection)
            .boxed(),
    };
    let (members, log) = member_and_log_futures(connection, id, accounts);
    Loads { header: header.map(|r| r.optional()).boxed(), members, log }
}

/// The members and log of session `id`, sent before its header (and so its account) is known.
/// A caller with one account: by their key's leading column, `account_id = ANY($accounts)`
/// (one index descent; on Citus, one shard). A caller with several accounts, or who sees every
/// account: of the account of the session with that ID among them, a subquery on
/// `sessions (id)` (two descents, where `= ANY` of n accounts would take n; on Citus they fan
/// out either way).
#[allow(clippy::type_complexity)]
fn member_and_log_futures<'c>(
    mut connection: &'c AsyncPgConnection,
    id: &str,
    accounts: Option<Vec<String>>,
) -> (BoxFuture<'c, QueryResult<Vec<MemberRecord>>>, BoxFuture<'c, QueryResult<Vec<LogRecord>>>) {
    let members = session_members::table
        .filter(session_members::session_id.eq(id.to_owned()))
        .order(session_members::position)
        .select(evo_store_sql::member_columns!(session_members));
    let log = session_log::table
        .filter(session_log::session_id.eq(id.to_owned()))
        .order(session_log::seq)
        .select((session_log::date, session_log::message));
    let of_session = || sessions::table.filter(sessions::id.eq(id.to_owned()));
    // Both loads, with `account_id = ANY(accounts)` made by `$accounts` (a list or a subquery:
    // different types, so a macro rather than a closure).
    macro_rules! loads_among {
        ($accounts:expr) => {
            (
                members
                    .filter(session_members::account_id.eq_any($accounts))
                    .load::<MemberRecord>(&mut connection)
                    .boxed(),
                log.filter(session_log::account_id.eq_any($accounts))
                    .load::<LogRecord>(&mut connection)
                    .boxed(),
            )
        };
    }
    match accounts {
        Some(accounts) if accounts.len() == 1 => loads_among!(accounts.clone()),
        Some(accounts) => loads_among!(
            of_session().filter(sessions::account_id.eq_any(accounts.clone())).select(sessions::account_id)
        ),
        None => loads_among!(of_session().select(sessions::account_id)),
    }
}

/// Runs one of the fixed statements (cached, so pipelined without a prepare trip).
async fn run<S>(mut connection: &AsyncPgConnection, statement: S) -> QueryResult<usize>
where
    S: diesel::query_builder::QueryFragment<diesel::pg::Pg> + diesel::query_builder::QueryId + Send + 'static,
{
    statement.execute(&mut connection).await
}

/// How transactions are driven, by whether prepared statements are cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// Cached prepared statements: transaction control is prepared too, and each phase of a
    /// change is one pipelined round trip.
    Pipelined,
    /// No statement cache (PgBouncer in transaction mode): transaction control goes as simple
    /// queries, so that nothing is prepared outside a transaction, and `COMMIT` waits for
    /// the statements before it (a prepare would otherwise let it overtake them).
    Unprepared,
}

/// A transaction control statement.
#[derive(Debug, Clone, Copy)]
enum Control {
    Begin,
    BeginSnapshot,
    Commit,
    Rollback,
}

async fn control(connection: &AsyncPgConnection, protocol: Protocol, statement: Control) -> QueryResult<()> {
    match protocol {
        Protocol::Pipelined => match statement {
            Control::Begin => run(connection, Begin).await,
            Control::BeginSnapshot => run(connection, BeginSnapshot).await,
            Control::Commit => run(connection, Commit).await,
            Control::Rollback => run(connection, Rollback).await,
        }
        .map(|_| ()),
        Protocol::Unprepared => {
            let mut simple = connection;
            simple
                .batch_execute(match statement {
                    Control::Begin => "BEGIN",
                    Control::BeginSnapshot => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                    Control::Commit => "COMMIT",
                    Control::Rollback => "ROLLBACK",
                })
                .await
        }
    }
}

/// Loads a session, its members and its log in one consistent snapshot: one round trip.
async fn find_session(
    connection: &AsyncPgConnection,
    protocol: Protocol,
    id: &str,
    accounts: VisibleAccounts<'_>,
) -> Result<Option<Loaded>, Failure> {
    let Loads { header, members, log } = read_futures(connection, id, accounts);
    let begin = control(connection, protocol, Control::BeginSnapshot);
    let (header, members, log) = match protocol {
        Protocol::Pipelined => {
            let (begin, header, members, log, commit) = futures_util::join!(
                begin,
                header,
                members,
                log,
                control(connection, protocol, Control::Commit)
            );
            begin.map_err(|e| classify(&e))?;
            commit.map_err(|e| classify(&e))?;
            (header, members, log)
        }
        Protocol::Unprepared => {
            let (begin, header, members, log) = futures_util::join!(begin, header, members, log);
            begin.map_err(|e| classify(&e))?;
            control(connection, protocol, Control::Commit).await.map_err(|e| classify(&e))?;
            (header, members, log)
        }
    };
    let header = header.map_err(|e| classify(&e))?;
    let members = members.map_err(|e| classify(&e))?;
    let log = log.map_err(|e| classify(&e))?;
    Ok(header.map(|header| (header, members, log)))
}

/// One change of this instance in flight, counted while it lives.
struct InFlightHere<'a> {
    count: &'a std::sync::atomic::AtomicUsize,
    alone: bool,
}

impl<'a> InFlightHere<'a> {
    fn enter(count: &'a std::sync::atomic::AtomicUsize) -> Self {
        let before = count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self { count, alone: before == 0 }
    }

    /// Whether no other change of this instance was in flight when this one began.
    fn alone(&self) -> bool {
        self.alone
    }
}

impl Drop for InFlightHere<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// How one attempt at a change ended.
enum Attempt {
    /// Committed; with the number its event got in its own transaction, if it got one
    /// (`None` too when that is not known, as after a lost answer to `COMMIT`).
    Done(Box<Session>, Option<i64>),
    Rejected(SessionError),
    Keyed(KeyedRefusal),
}

/// The pending checks of a keyed request, to send right after `BEGIN`: the key's advisory
/// lock (held by whichever request runs the key, across instances, until its transaction
/// ends) and the key's live answer, among `accounts` (and the no-account `''`, see
/// [`NO_ACCOUNT`]) when the caller's accounts are known; else under any account.
#[allow(clippy::type_complexity)]
fn key_checks<'c>(
    mut connection: &'c AsyncPgConnection,
    request: &Idempotency,
    accounts: VisibleAccounts<'_>,
    now: Timestamp,
) -> (BoxFuture<'c, QueryResult<bool>>, BoxFuture<'c, QueryResult<Option<KeyRecord>>>) {
    let (high, low) = crate::advisory_locks::key_lock(&request.scope, &request.key);
    let locked = diesel::select(try_key_lock(high, low)).get_result::<bool>(&mut connection).boxed();
    (locked, kept_answer(connection, request, accounts, now))
}

/// The live answer kept under `request`'s key, among `accounts` and the no-account `''` when
/// the caller's accounts are known; else under any account.
fn kept_answer<'c>(
    mut connection: &'c AsyncPgConnection,
    request: &Idempotency,
    accounts: VisibleAccounts<'_>,
    now: Timestamp,
) -> BoxFuture<'c, QueryResult<Option<KeyRecord>>> {
    let by_key = idempotency_keys::table
        .filter(idempotency_keys::scope.eq(request.scope.clone()))
        .filter(idempotency_keys::key.eq(request.key.clone()))
        .filter(idempotency_keys::expires_at.gt(now))
        .select(evo_store_sql::key_columns!(idempotency_keys));
    let stored = match account_list(accounts) {
        None => by_key.get_result::<KeyRecord>(&mut connection).boxed(),
        Some(mut accounts) => {
            accounts.push(NO_ACCOUNT.to_owned());
            by_key
                .filter(idempotency_keys::account_id.eq_any(accounts))
                .get_result::<KeyRecord>(&mut connection)
                .boxed()
        }
    };
    stored.map(|r| r.optional()).boxed()
}

/// What the key checks say: `Some` is the answer to give instead of carrying the request
/// out (another request runs the key, or it was answered before); `None`: go on.
fn key_verdict(locked: bool, stored: Option<KeyRecord>, request: &Idempotency) -> Option<KeyedRefusal> {
    match (locked, stored) {
        (false, _) => Some(KeyedRefusal::InFlight),
        (true, Some(record)) => Some(record.answer_to(request)),
        (true, None) => None,
    }
}

/// A keyed request's checks as a round trip of their own (`BEGIN` included): for the insert
/// of a new session, and for changes without the statement cache. When they refuse, the
/// transaction is rolled back.
async fn claim_key(
    connection: &AsyncPgConnection,
    protocol: Protocol,
    request: &Idempotency,
    accounts: VisibleAccounts<'_>,
    now: Timestamp,
) -> Result<Option<KeyedRefusal>, Failure> {
    let (locked, stored) = key_checks(connection, request, accounts, now);
    let claimed = futures_util::try_join!(control(connection, protocol, Control::Begin), locked, stored);
    let refusal = match claimed {
        Ok((_, locked, stored)) => match key_verdict(locked, stored, request) {
            Some(refusal) => refusal,
            None => return Ok(None),
        },
        Err(error) => {
            let _ = rollback(connection, protocol).await;
            return Err(classify(&error));
        }
    };
    rollback(connection, protocol).await?;
    Ok(Some(refusal))
}

/// Keeps a keyed request's answer in its change's transaction. The key's lock is held and no
/// live answer was found, so a row under the key can only be an expired one: replaced.
async fn keep_answer(
    connection: &AsyncPgConnection,
    request: &Idempotency,
    account_id: String,
    record: KeyRecord,
) -> QueryResult<usize> {
    let statement = KeepAnswer {
        account_id,
        scope: request.scope.clone(),
        key: request.key.clone(),
        fingerprint: record.fingerprint,
        status: record.status,
        content_type: record.content_type,
        body: record.body,
        expires_at: request.expires_at,
    };
    run(connection, statement).await
}

/// What a change had sent when it stopped: once its write and COMMIT may have gone out, the
/// transaction's ID and the session as the change left it, so that a lost answer can be
/// settled by asking the server (see the module docs).
#[derive(Default)]
struct InFlight {
    xid: Option<ServerTxid>,
    evidence: Option<Evidence>,
    changed: Option<Box<Session>>,
}

/// One attempt at a change: the two pipelined round trips described in the module docs.
async fn change_session(
    connection: &AsyncPgConnection,
    protocol: Protocol,
    outbox: &Outbox,
    request: ChangeRequest<'_>,
    number_now: bool,
    in_flight: &mut InFlight,
) -> Result<Attempt, Failure> {
    let ChangeRequest { id, actor, command, if_version, idempotency, now } = request;
    // A keyed request begins its transaction with the key's checks (one more round trip).
    // A keyed change sends the key's checks in the read's round trip (pipelined, right after
    // `BEGIN`); without the statement cache, where nothing pipelines, in a trip of its own.
    let pipelined_key = idempotency.filter(|_| protocol == Protocol::Pipelined);
    let began = match idempotency.filter(|_| protocol == Protocol::Unprepared) {
        Some(key) => match claim_key(connection, protocol, key, actor.visible_accounts(), now).await? {
            Some(refusal) => return Ok(Attempt::Keyed(refusal)),
            None => true,
        },
        None => false,
    };
    let begin =
        async move { if began { Ok(()) } else { control(connection, protocol, Control::Begin).await } };
    let (locked, stored) = match pipelined_key {
        Some(key) => key_checks(connection, key, actor.visible_accounts(), now),
        None => (async { Ok(true) }.boxed(), async { Ok(None) }.boxed()),
    };
    let Loads { header, members, log } = lock_futures(connection, id.as_str(), actor.visible_accounts());
    let read = futures_util::try_join!(begin, locked, stored, header, members, log);
    let read = read.map(|(begin, locked, stored, header, members, log)| {
        let refusal = pipelined_key.and_then(|key| key_verdict(locked, stored, key));
        (begin, refusal, header, members, log)
    });
    let (_, refusal, header, members, log) = match read {
        Ok(read) => read,
        Err(error) => {
            // The connection is closed after any failure, so a failed rollback changes nothing.
            let _ = rollback(connection, protocol).await;
            return Err(classify(&error));
        }
    };
    if let Some(refusal) = refusal {
        rollback(connection, protocol).await?;
        return Ok(Attempt::Keyed(refusal));
    }
    let xid = header
        .as_ref()
        .map(|(_, xid, server_started)| ServerTxid { xid: *xid, server_started: *server_started });
    // The account a keyed answer is kept under: the session's, or none when none is visible.
    let account = header.as_ref().map_or_else(|| NO_ACCOUNT.to_owned(), |(h, _, _)| h.account_id.clone());
    let loaded = header.map(|(header, _, _)| (header, members, log));
    let (session, writes) = match decide(loaded, actor, command, if_version, now, outbox) {
        Ok(decided) => decided,
        Err(Refusal::Rejected(rejected)) => {
            // A keyed refusal is an answer too: kept, and committed.
            if let Some(key) = idempotency {
                let kept = keep_answer(connection, key, account, KeyRecord::of(key, Err(&rejected))).await;
                kept.map_err(|e| classify(&e))?;
                control(connection, protocol, Control::Commit).await.map_err(|e| classify(&e))?;
            } else {
                rollback(connection, protocol).await?;
            }
            return Ok(Attempt::Rejected(rejected));
        }
        Err(Refusal::Corrupt(corrupt)) => {
            rollback(connection, protocol).await?;
            return Err(Failure::Internal(corrupt.to_string()));
        }
    };
    let answer = idempotency.map(|key| (key, KeyRecord::of(key, Ok(&session))));
    let write = ChangeWrite::of(&writes, number_now);
    // From here on the COMMIT may reach the server whatever happens to its answer.
    in_flight.xid = xid;
    in_flight.evidence = Some(Evidence::LogEntry {
        account_id: writes.account_id.clone(),
        session_id: writes.session_id.clone(),
        date: writes.log_entry.date,
        message: writes.log_entry.message.clone(),
    });
    in_flight.changed = Some(Box::new(session));
    let write = write.execute(connection);
    let kept = async move {
        match answer {
            Some((key, record)) => keep_answer(connection, key, account, record).await,
            None => Ok(0),
        }
    };
    let (written, kept, commit) = match protocol {
        Protocol::Pipelined => {
            futures_util::join!(write, kept, control(connection, protocol, Control::Commit))
        }
        Protocol::Unprepared => {
            let written = write.await;
            let kept = kept.await;
            (written, kept, control(connection, protocol, Control::Commit).await)
        }
    };
    kept.map_err(|e| classify(&e))?;
    // A failed write aborts the transaction, and the pipelined COMMIT then only rolls back.
    let numbered = match written {
        Ok((1, numbered, _)) => numbered,
        Ok(_) => {
            in_flight.xid = None;
            return Err(Failure::Retry(format!("session {id} changed under its lock")));
        }
        Err(error) if is_unique_violation(&error, MEMBER_UNIQUE) => {
            in_flight.xid = None;
            commit.map_err(|e| classify(&e))?;
            return Ok(Attempt::Rejected(writes.duplicate_member()));
        }
        Err(error) => return Err(classify(&error)),
    };
    commit.map_err(|e| classify(&e))?;
    let session = in_flight.changed.take().expect("set before the write");
    Ok(Attempt::Done(session, numbered))
}

async fn rollback(connection: &AsyncPgConnection, protocol: Protocol) -> Result<(), Failure> {
    control(connection, protocol, Control::Rollback).await.map_err(|e| classify(&e))
}

/// The one writing statement of a change (already applied to the session in memory): it
/// writes only when the session is still at the version read, and counts 1 if it did.
/// `Numbered` also tries to number the event in its insert (crate::outbox): a second SQL
/// text, so a second type for the statement cache.
enum ChangeWrite {
    Plain(WriteStatement<false>),
    Numbered(WriteStatement<true>),
}

/// A change's writing statement by kind of change.
enum WriteStatement<const NUMBERED: bool> {
    Remove(RemoveMemberWrite<NUMBERED>),
    Invite(Box<InviteMemberWrite<NUMBERED>>),
    End(EndSessionWrite<NUMBERED>),
}

impl ChangeWrite {
    /// `number_now`: the change is alone in flight here, so numbering its own event is worth
    /// trying (under load the lock is mostly taken, and the sequencer's batches cost less).
    fn of(writes: &ChangeWrites, number_now: bool) -> Self {
        if number_now {
            Self::Numbered(WriteStatement::of(writes))
        } else {
            Self::Plain(WriteStatement::of(writes))
        }
    }

    /// Answers (1 if written else 0, the event's number if it got one, notifications queued).
    async fn execute(self, connection: &AsyncPgConnection) -> QueryResult<(i64, Option<i64>, i64)> {
        match self {
            Self::Plain(statement) => statement.execute(connection).await,
            Self::Numbered(statement) => statement.execute(connection).await,
        }
    }
}

impl<const NUMBERED: bool> WriteStatement<NUMBERED> {
    fn of(writes: &ChangeWrites) -> Self {
        let change = ChangeHeader {
            account_id: writes.account_id.clone(),
            session_id: writes.session_id.clone(),
            header: writes.header.clone(),
            version_read: writes.version_read,
            log_date: writes.log_entry.date,
            log_message: writes.log_entry.message.clone(),
            event: writes.event.clone(),
        };
        match &writes.member {
            MemberWrite::Delete { identity_key } => {
                Self::Remove(RemoveMemberWrite { change, identity_key: identity_key.clone() })
            }
            MemberWrite::Insert(member) => {
                Self::Invite(Box::new(InviteMemberWrite { change, member: (**member).clone() }))
            }
            MemberWrite::Unchanged => Self::End(EndSessionWrite { change }),
        }
    }

    async fn execute(self, mut connection: &AsyncPgConnection) -> QueryResult<(i64, Option<i64>, i64)> {
        match self {
            Self::Remove(statement) => statement.get_result(&mut connection).await,
            Self::Invite(statement) => (*statement).get_result(&mut connection).await,
            Self::End(statement) => statement.get_result(&mut connection).await,
        }
    }
}

/// Inserts a session, its members and log in one transaction: one pipelined round trip
/// (`BEGIN`, three inserts, `COMMIT`) with the statement cache, sequential without it.
async fn insert_session(
    connection: &AsyncPgConnection,
    protocol: Protocol,
    session: &Session,
    event: EventRecord,
    idempotency: Option<&Idempotency>,
    xid: &OnceLock<ServerTxid>,
) -> Result<Option<KeyedRefusal>, Failure> {
    // A new session's "now" is when it was opened.
    // The store's insert knows no caller: the key is looked up under any account.
    let began = match idempotency {
        Some(key) => {
            match claim_key(connection, protocol, key, VisibleAccounts::All, session.date_created).await? {
                Some(refusal) => return Ok(Some(refusal)),
                None => true,
            }
        }
        None => false,
    };
    let id = session.id.as_str().to_owned();
    let account = session.account_id.as_str().to_owned();
    let members =
        InsertMembers::new(account.clone(), id.clone(), session.members.iter().map(MemberRecord::of));
    let log = InsertLog {
        account_id: account.clone(),
        session_id: id,
        dates: session.log.iter().map(|entry| entry.date).collect(),
        messages: session.log.iter().map(|entry| entry.message.clone()).collect(),
    };
    let begin =
        async move { if began { Ok(()) } else { control(connection, protocol, Control::Begin).await } };
    let kept = async move {
        match idempotency {
            Some(key) => keep_answer(connection, key, account, KeyRecord::of(key, Ok(session))).await,
            None => Ok(0),
        }
    };
    // The transaction's ID, kept as soon as it arrives: it settles a lost answer to COMMIT.
    let mut xid_connection = connection;
    let current_xid = async move {
        let (current, server_started) = diesel::select((txid_current(), pg_postmaster_start_time()))
            .get_result::<(i64, Timestamp)>(&mut xid_connection)
            .await?;
        let _ = xid.set(ServerTxid { xid: current, server_started });
        QueryResult::Ok(())
    };
    let header = run(
        connection,
        diesel::insert_into(sessions::table)
            .values(evo_store_sql::session_values!(sessions, SessionRecord::of(session))),
    );
    let members = run(connection, members);
    let log = run(connection, log);
    let event = run(connection, InsertEvent { event });
    let writes = async move {
        let (header, members, log, event) = futures_util::join!(header, members, log, event);
        (header, members, log.and(event))
    };
    let (begin, current_xid, (header, members, log), kept, commit) = match protocol {
        Protocol::Pipelined => futures_util::join!(
            begin,
            current_xid,
            writes,
            kept,
            control(connection, protocol, Control::Commit)
        ),
        Protocol::Unprepared => {
            let (begin, current_xid, writes, kept) = futures_util::join!(begin, current_xid, writes, kept);
            // After a failure the transaction is aborted and COMMIT only rolls back.
            (begin, current_xid, writes, kept, control(connection, protocol, Control::Commit).await)
        }
    };
    begin.map_err(|e| classify(&e))?;
    current_xid.map_err(|e| classify(&e))?;
    header.map_err(|error| {
        if is_unique_violation(&error, SESSIONS_PKEY) { Failure::AlreadyExists } else { classify(&error) }
    })?;
    members.map_err(|e| classify(&e))?;
    log.map_err(|e| classify(&e))?;
    kept.map_err(|e| classify(&e))?;
    commit.map_err(|e| classify(&e))?;
    Ok(None)
}

#[async_trait]
impl SessionRepository for PgSessionRepository {
    async fn insert(
        &self,
        session: &Session,
        actor: &Actor,
        idempotency: Option<Idempotency>,
    ) -> Result<(), UpdateError> {
        let idempotency = idempotency.as_ref();
        let event = self.outbox.record(&SessionEvent::session_created(session, actor));
        self.outbox.check_new_session(session, &event)?;
        let mut lease = self.lease().await.map_err(Failure::into_repository_error)?;
        let xid = OnceLock::new();
        let insert = insert_session(lease.connection(), self.protocol, session, event, idempotency, &xid);
        let inserted = self.within_deadline(insert).await;
        if let Ok(Some(refusal)) = inserted {
            lease.release_to_pool();
            return Err(UpdateError::Keyed(refusal));
        }
        let inserted = inserted.map(|_| ());
        if matches!(inserted, Err(Failure::AlreadyExists)) {
            // The duplicate aborted the transaction and the COMMIT after it rolled back.
            lease.release_to_pool();
        }
        let inserted = match lease.settle(inserted) {
            Err(Failure::Unavailable(reason)) => {
                self.settle_lost_insert(session, xid.get().copied(), reason).await
            }
            other => other,
        };
        inserted.map_err(Failure::into_repository_error)?;
        self.events.committed();
        Ok(())
    }

    async fn has_kept_answer(
        &self,
        idempotency: &Idempotency,
        actor: &Actor,
        now: Timestamp,
    ) -> Result<bool, RepositoryError> {
        let lease = self.lease().await.map_err(Failure::into_repository_error)?;
        let connection = lease.connection();
        let protocol = self.protocol;
        // In a transaction (behind PgBouncer a prepared statement must stay on one server),
        // pipelined as `find` is: one round trip with the statement cache.
        let lookup = async move {
            let kept = kept_answer(connection, idempotency, actor.visible_accounts(), now);
            let begin = control(connection, protocol, Control::Begin);
            let kept = match protocol {
                Protocol::Pipelined => {
                    let (begin, kept, commit) =
                        futures_util::join!(begin, kept, control(connection, protocol, Control::Commit));
                    begin?;
                    commit?;
                    kept?
                }
                Protocol::Unprepared => {
                    let (begin, kept) = futures_util::join!(begin, kept);
                    begin?;
                    control(connection, protocol, Control::Commit).await?;
                    kept?
                }
            };
            QueryResult::Ok(kept.is_some())
        };
        let kept = self.within_deadline(lookup.map(|r| r.map_err(|e| classify(&e)))).await;
        lease.settle(kept).map_err(Failure::into_repository_error)
    }

    async fn purge_expired_keys(&self, now: Timestamp, limit: u32) -> Result<u64, RepositoryError> {
        let lease = self.lease().await.map_err(Failure::into_repository_error)?;
        let mut connection = lease.connection();
        // Oldest first, a bounded batch, each row locked only for its own delete.
        let protocol = self.protocol;
        let purge = async move {
            // In a transaction: behind PgBouncer a prepared statement must stay on one server.
            control(connection, protocol, Control::Begin).await?;
            let purged = diesel::sql_query(
                "DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM idempotency_keys \
                 WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
            )
            .bind::<diesel::sql_types::Timestamptz, _>(now)
            .bind::<diesel::sql_types::BigInt, _>(i64::from(limit))
            .execute(&mut connection)
            .await?;
            control(connection, protocol, Control::Commit).await?;
            QueryResult::Ok(purged)
        };
        let purged = self.within_deadline(purge.map(|r| r.map_err(|e| classify(&e)))).await;
        Ok(lease.settle(purged).map_err(Failure::into_repository_error)? as u64)
    }

    async fn find(&self, id: &SessionId, actor: &Actor) -> Result<Option<Session>, RepositoryError> {
        self.find_among(id, actor.visible_accounts()).await
    }

    async fn update(
        &self,
        id: &SessionId,
        actor: &Actor,
        command: &SessionCommand,
        if_version: Option<IfVersion>,
        idempotency: Option<Idempotency>,
        now: Timestamp,
    ) -> Result<Session, UpdateError> {
        let request = ChangeRequest {
            id,
            actor,
            command,
            if_version: if_version.as_ref(),
            idempotency: idempotency.as_ref(),
            now,
        };
        let in_flight_here = InFlightHere::enter(&self.changes_in_flight);
        let mut last_conflict = String::new();
        for _ in 0..MAX_ATTEMPTS {
            let lease = self.lease().await.map_err(Failure::into_repository_error)?;
            let mut in_flight = InFlight::default();
            let attempt = self
                .within_deadline(change_session(
                    lease.connection(),
                    self.protocol,
                    &self.outbox,
                    request,
                    in_flight_here.alone(),
                    &mut in_flight,
                ))
                .await;
            let attempt = match (lease.settle(attempt), in_flight) {
                (
                    Err(Failure::Unavailable(reason)),
                    InFlight { xid: Some(xid), evidence: Some(evidence), changed: Some(session) },
                ) => self
                    .settle_lost_commit(xid, evidence, reason)
                    .await
                    .map(|()| Attempt::Done(session, None)),
                (attempt, _) => attempt,
            };
            match attempt {
                Ok(Attempt::Done(session, numbered)) => {
                    match numbered {
                        Some(number) => self.events.numbered(number),
                        None => self.events.committed(),
                    }
                    return Ok(*session);
                }
                Ok(Attempt::Rejected(refusal)) => return Err(UpdateError::Rejected(refusal)),
                Ok(Attempt::Keyed(refusal)) => return Err(UpdateError::Keyed(refusal)),
                Err(Failure::Retry(reason)) => {
                    tracing::debug!(session = %id, %reason, "retrying a change after a conflict");
                    last_conflict = reason;
                }
                Err(failure) => return Err(failure.into_repository_error().into()),
            }
        }
        Err(Failure::Retry(last_conflict).into_repository_error().into())
    }

    async fn ping(&self) -> Result<(), RepositoryError> {
        let lease = self.health_pool.get().await.map(Lease::new).map_err(pool_failure);
        let lease = lease.map_err(Failure::into_repository_error)?;
        // A simple query: one round trip, nothing prepared (fine behind PgBouncer too).
        let mut simple = lease.connection();
        let pinged =
            self.within_deadline(simple.batch_execute("SELECT 1").map(|r| r.map_err(|e| classify(&e)))).await;
        lease.settle(pinged).map_err(Failure::into_repository_error)
    }
}
