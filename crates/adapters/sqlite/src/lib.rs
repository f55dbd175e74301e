//! # evo-sqlite
//!
//! The embedded SQLite session store of evo-sessions: the zero-setup default. diesel, with
//! reads on diesel-async's `SyncConnectionWrapper` (each runs on Tokio's blocking pool) and
//! writes on a thread of their own ([`writer`]), bundled SQLite, migrations from
//! `migrations/sqlite` compiled in.
//!
//! Every connection uses WAL (readers never wait for the writer), `busy_timeout`,
//! `foreign_keys=ON` and `synchronous=FULL` (in WAL mode `NORMAL` may lose the last commits on
//! power loss, and a 200 must survive it: contract section 14). Each change runs in one `BEGIN IMMEDIATE`
//! transaction: it takes the write lock before reading, so changes are serialized (a
//! deferred transaction that upgrades to a write could fail with `SQLITE_BUSY` at once,
//! whatever the busy timeout); they take turns on one writer connection, first come first
//! served, and reads use a pool beside it. The rule itself is decided in the domain,
//! [`Session::apply`](evo_domain::Session::apply), inside that transaction.

mod outbox;
mod schema;
mod statements;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sqlite::SqliteConnection;
use diesel_async::pooled_connection::deadpool::{Object, Pool, PoolError};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use evo_domain::SessionEvent;
use evo_domain::{
    Actor, IfVersion, Session, SessionCommand, SessionError, SessionId, Timestamp, VisibleAccounts,
};
use evo_ports::{EventId, Idempotency, KeyedRefusal, RepositoryError, SessionRepository, UpdateError};
use evo_store_sql::{
    ChangeRequest, ChangeWrites, EventRecord, EventSignal, KeyRecord, LogRecord, MemberRecord, MemberWrite,
    Outbox, Refusal, SessionRecord, decide, restore_session,
};

use crate::schema::{idempotency_keys, session_events, session_log, session_members, sessions};
use crate::writer::{Writer, write_transaction};

diesel::define_sql_function! {
    /// The rowid of the last row this connection inserted.
    fn last_insert_rowid() -> diesel::sql_types::BigInt;
}

/// The migrations of `migrations/sqlite`, compiled in.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../../migrations/sqlite");

type AsyncSqlite = SyncConnectionWrapper<SqliteConnection>;

/// Where the SQLite database lives and how it is used.
#[derive(Debug, Clone)]
pub struct SqliteConfig {
    /// The database file; its folder and the file are created when missing.
    pub path: PathBuf,
    /// Connections for reads (they run in parallel); writes have one connection of their
    /// own beside them, on which they take turns.
    pub pool_size: usize,
    /// How long a statement waits for a lock before the store answers `Unavailable`; also
    /// bounds the wait for a free connection.
    pub busy_timeout: Duration,
}

impl SqliteConfig {
    /// Settings for the database at `path`: a pool of 2 × cores (at least 4) and a busy
    /// timeout of 5 s.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Self { path: path.into(), pool_size: (2 * cores).max(4), busy_timeout: Duration::from_secs(5) }
    }
}

/// Why the SQLite store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SqliteStoreError {
    /// The database's folder could not be created.
    #[error("cannot create the folder of {path}: {source}")]
    CreateFolder {
        /// The database file.
        path: String,
        /// The I/O failure.
        source: std::io::Error,
    },
    /// The database could not be opened.
    #[error("cannot open the SQLite database {path}: {reason}")]
    Open {
        /// The database file.
        path: String,
        /// What failed.
        reason: String,
    },
    /// A migration failed.
    #[error("migrating the SQLite database failed: {0}")]
    Migration(String),
    /// The pool could not be built.
    #[error("cannot build the connection pool: {0}")]
    Pool(String),
}

/// Sessions in a SQLite file. Cheap to clone: clones share one connection pool.
///
/// When the last clone is dropped, the writer connection closes once the writer has finished
/// (a moment after the last write's answer, on the writer's thread): a connection opened
/// right after should set a busy timeout.
#[derive(Clone)]
pub struct SqliteSessionRepository {
    pool: Pool<AsyncSqlite>,
    outbox: Outbox,
    signal: EventSignal,
    /// The one connection every write runs on, first come first served ([`writer`]):
    /// changes waiting for it share a transaction and one durable commit. SQLite lets one
    /// writer in at a time: writers on several connections waited in its busy handler
    /// (sleeping up to 100 ms between tries, newcomers first: the c=16 tail ran to a second)
    /// and found their page caches emptied by the others' commits (docs/performance.md).
    writer: Arc<Writer>,
    /// The account the last delivery claim ended with: the next one starts after it.
    claim_cursor: Arc<std::sync::Mutex<String>>,
}

impl std::fmt::Debug for SqliteSessionRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteSessionRepository").field("pool", &self.pool.status()).finish()
    }
}

/// The pragmas every connection runs first.
fn connection_pragmas(busy_timeout: Duration) -> String {
    format!(
        "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; \
         PRAGMA synchronous = FULL;",
        busy_timeout.as_millis()
    )
}

/// Creates the database's folder (and its missing parents) readable by its owner only, and an
/// empty database file `0600` when there is none: SQLite gives its `-wal` and `-shm` files the
/// database file's mode, so no file of the store is readable by other local users.
fn create_private(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(folder)?;
    }
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Err(error) if error.kind() != std::io::ErrorKind::AlreadyExists => Err(error),
        _ => Ok(()),
    }
}

impl SqliteSessionRepository {
    /// Opens (creating when missing) the database at `config.path`, applies the pending
    /// migrations and builds the pool. Needs a multi-threaded Tokio runtime.
    pub async fn open(config: SqliteConfig) -> Result<Self, SqliteStoreError> {
        let path_text = config.path.display().to_string();
        create_private(&config.path)
            .map_err(|source| SqliteStoreError::CreateFolder { path: path_text.clone(), source })?;
        let pragmas = connection_pragmas(config.busy_timeout);
        let (migrate_path, migrate_pragmas) = (path_text.clone(), pragmas.clone());
        tokio::task::spawn_blocking(move || migrate(&migrate_path, &migrate_pragmas))
            .await
            .map_err(|e| SqliteStoreError::Migration(format!("the migration task failed: {e}")))??;

        Ok(Self {
            pool: build_pool(&path_text, &pragmas, config.pool_size, config.busy_timeout)?,
            outbox: Outbox::default(),
            signal: EventSignal::default(),
            claim_cursor: Arc::default(),
            writer: Writer::start(
                Box::new(move || {
                    connect(&path_text, &pragmas)
                        .map_err(|e| RepositoryError::Unavailable(format!("cannot open the database: {e}")))
                }),
                config.busy_timeout,
            )
            .map_err(|e| SqliteStoreError::Open {
                path: config.path.display().to_string(),
                reason: format!("cannot start the writer thread: {e}"),
            })?,
        })
    }

    /// The same store, writing each change's event as `outbox` says.
    pub fn with_outbox(self, outbox: Outbox) -> Self {
        Self { outbox, ..self }
    }

    /// [`run`](Self::run) for a write that is not a change: on the writer connection, alone,
    /// after the writes before it.
    async fn run_writing<R: Send + 'static>(
        &self,
        task: impl FnOnce(&mut SqliteConnection) -> QueryResult<R> + Send + 'static,
    ) -> Result<R, RepositoryError> {
        self.writer.alone(task).await
    }

    /// Runs `task` on a pooled connection, on the blocking pool.
    async fn run<R: Send + 'static>(
        &self,
        task: impl FnOnce(&mut SqliteConnection) -> QueryResult<R> + Send + 'static,
    ) -> Result<R, RepositoryError> {
        let mut connection: Object<AsyncSqlite> = self.pool.get().await.map_err(pool_error)?;
        connection.spawn_blocking(task).await.map_err(|e| database_error(&e))
    }
}

/// Whether a change's outcome is a database error (not a refusal): see [`Writer::change`].
fn database_failed<T>(outcome: &Result<T, ChangeFailure>) -> bool {
    matches!(outcome, Err(ChangeFailure::Database(_)))
}

/// A pool of at most `size` connections to `path`, each set up with `pragmas`; waits (for a
/// free connection, to open one, to recycle one) bounded by `timeout`.
fn build_pool(
    path: &str,
    pragmas: &str,
    size: usize,
    timeout: Duration,
) -> Result<Pool<AsyncSqlite>, SqliteStoreError> {
    let pragmas = pragmas.to_owned();
    let mut manager_config = ManagerConfig::<AsyncSqlite>::default();
    // Local file: nothing to probe before reuse.
    manager_config.recycling_method = RecyclingMethod::Fast;
    manager_config.custom_setup = Box::new(move |url| {
        let (url, pragmas) = (url.to_owned(), pragmas.clone());
        Box::pin(async move {
            let mut connection = AsyncSqlite::establish(&url).await?;
            connection
                .batch_execute(&pragmas)
                .await
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(connection)
        })
    });
    let manager = AsyncDieselConnectionManager::new_with_config(path, manager_config);
    Pool::builder(manager)
        .max_size(size.max(1))
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| SqliteStoreError::Pool(e.to_string()))
}

/// A connection to `path`, set up with `pragmas` (blocking: off the async workers).
fn connect(path: &str, pragmas: &str) -> Result<SqliteConnection, String> {
    let mut connection = SqliteConnection::establish(path).map_err(|e| e.to_string())?;
    connection.batch_execute(pragmas).map_err(|e| e.to_string())?;
    Ok(connection)
}

fn migrate(path: &str, pragmas: &str) -> Result<(), SqliteStoreError> {
    let mut connection =
        connect(path, pragmas).map_err(|reason| SqliteStoreError::Open { path: path.to_owned(), reason })?;
    let applied = connection
        .run_pending_migrations(MIGRATIONS)
        .map_err(|e| SqliteStoreError::Migration(e.to_string()))?;
    if !applied.is_empty() {
        tracing::info!(applied = applied.len(), path, "applied SQLite migrations");
    }
    Ok(())
}

fn pool_error(error: PoolError) -> RepositoryError {
    match error {
        PoolError::Timeout(kind) => {
            RepositoryError::Unavailable(format!("no database connection within the {kind:?} timeout"))
        }
        PoolError::Backend(error) => {
            RepositoryError::Unavailable(format!("cannot open the database: {error}"))
        }
        other => RepositoryError::Internal(format!("connection pool: {other}")),
    }
}

/// SQLite answers `database is locked` / `busy` once the busy timeout has passed.
pub(crate) fn database_error(error: &DieselError) -> RepositoryError {
    let text = error.to_string();
    if text.contains("database is locked") || text.contains("busy") {
        RepositoryError::Unavailable(format!("the database stayed locked: {text}"))
    } else {
        RepositoryError::Internal(text)
    }
}

fn is_unique_violation(error: &DieselError, columns: &str) -> bool {
    matches!(error, DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
        if info.message().contains(columns))
}

/// What can end a change's transaction early (and roll it back).
#[derive(Debug)]
enum ChangeFailure {
    Rejected(SessionError),
    Keyed(KeyedRefusal),
    Corrupt(String),
    Database(DieselError),
}

impl From<DieselError> for ChangeFailure {
    fn from(error: DieselError) -> Self {
        Self::Database(error)
    }
}

impl From<ChangeFailure> for UpdateError {
    fn from(failure: ChangeFailure) -> Self {
        match failure {
            ChangeFailure::Rejected(refusal) => Self::Rejected(refusal),
            ChangeFailure::Keyed(refusal) => Self::Keyed(refusal),
            ChangeFailure::Corrupt(reason) => RepositoryError::Internal(reason).into(),
            ChangeFailure::Database(error) => database_error(&error).into(),
        }
    }
}

type Loaded = (SessionRecord, Vec<MemberRecord>, Vec<LogRecord>);

/// The account a keyed answer is kept under when its request addressed no session the caller
/// sees (see migrations/sqlite/2026-12-01-000002_keys_lead_with_account_id).
const NO_ACCOUNT: &str = "";

/// Loads a session among the accounts in `accounts`: another account's reads as missing.
/// Members and log by their key, account first.
///
/// The accounts are compared on the rows read rather than in an `IN (...)` list: diesel
/// does not cache a statement whose number of binds varies, and SQLite would parse it again
/// on every request (measured: a tenth of the service's CPU per removal). SQLite locks the
/// whole file anyway, so reading a row before dropping it locks nothing more.
fn load(
    connection: &mut SqliteConnection,
    id: &str,
    accounts: VisibleAccounts<'_>,
) -> QueryResult<Option<Loaded>> {
    let headers = sessions::table
        .filter(sessions::id.eq(id))
        .select(evo_store_sql::session_columns!(sessions))
        .load::<SessionRecord>(connection)?;
    let Some(header) = headers.into_iter().find(|header| accounts.contains_str(&header.account_id)) else {
        return Ok(None);
    };
    let account = header.account_id.as_str();
    let members = session_members::table
        .filter(session_members::account_id.eq(account))
        .filter(session_members::session_id.eq(id))
        .order(session_members::position)
        .select(evo_store_sql::member_columns!(session_members))
        .load::<MemberRecord>(connection)?;
    let log = session_log::table
        .filter(session_log::account_id.eq(account))
        .filter(session_log::session_id.eq(id))
        .order(session_log::seq)
        .select((session_log::date, session_log::message))
        .load::<LogRecord>(connection)?;
    Ok(Some((header, members, log)))
}

fn insert_session(
    connection: &mut SqliteConnection,
    session: &Session,
    event: EventRecord,
    idempotency: Option<&Idempotency>,
) -> Result<EventId, ChangeFailure> {
    let id = session.id.as_str().to_owned();
    let account = session.account_id.as_str().to_owned();
    write_transaction(connection, |connection| {
        // A new session's "now" is when it was opened. The store's insert knows no caller:
        // the key is looked up under any account.
        if let Some(refusal) =
            answered_before(connection, idempotency, VisibleAccounts::All, session.date_created)?
        {
            return Err(ChangeFailure::Keyed(refusal));
        }
        diesel::insert_into(sessions::table)
            .values(evo_store_sql::session_values!(sessions, SessionRecord::of(session)))
            .execute(connection)?;
        // `position` and `seq` are numbered per session, from 1, in join and log order.
        for (position, member) in (1_i64..).zip(&session.members) {
            let member = MemberRecord::of(member);
            diesel::insert_into(session_members::table)
                .values((
                    evo_store_sql::member_values!(session_members, account.clone(), id.clone(), member),
                    session_members::position.eq(position),
                ))
                .execute(connection)?;
        }
        for (seq, entry) in (1_i64..).zip(&session.log) {
            diesel::insert_into(session_log::table)
                .values((
                    session_log::account_id.eq(account.clone()),
                    session_log::session_id.eq(id.clone()),
                    session_log::seq.eq(seq),
                    session_log::date.eq(entry.date),
                    session_log::message.eq(entry.message.clone()),
                ))
                .execute(connection)?;
        }
        let event_id = append_event(connection, event)?;
        keep_answer(connection, idempotency, &account, Ok(session))?;
        Ok(event_id)
    })
}

/// Appends an event to the outbox; returns its number.
fn append_event(connection: &mut SqliteConnection, event: EventRecord) -> QueryResult<EventId> {
    diesel::insert_into(session_events::table)
        .values(evo_store_sql::event_values!(session_events, event))
        .execute(connection)?;
    let id = diesel::select(last_insert_rowid()).get_result::<i64>(connection)?;
    Ok(EventId::try_from(id).unwrap_or_default())
}

/// The answer a keyed request gets without being carried out, when its key holds a live
/// answer, among the caller's `accounts` and the no-account `''` (a key is the caller's in
/// every account it sees). The write lock of `BEGIN IMMEDIATE` serializes requests, so none
/// is ever found in flight here: a repeat waits for the first, then gets its answer.
fn answered_before(
    connection: &mut SqliteConnection,
    idempotency: Option<&Idempotency>,
    accounts: VisibleAccounts<'_>,
    now: Timestamp,
) -> QueryResult<Option<KeyedRefusal>> {
    let Some(request) = idempotency else { return Ok(None) };
    Ok(kept_answer(connection, request, accounts, now)?.map(|record| record.answer_to(request)))
}

/// The live answer kept under `request`'s key, among `accounts` and the no-account `''`.
fn kept_answer(
    connection: &mut SqliteConnection,
    request: &Idempotency,
    accounts: VisibleAccounts<'_>,
    now: Timestamp,
) -> QueryResult<Option<KeyRecord>> {
    // Filtered by account on the rows read, not in SQL: see [`load`].
    let kept = idempotency_keys::table
        .filter(idempotency_keys::scope.eq(&request.scope))
        .filter(idempotency_keys::key.eq(&request.key))
        .filter(idempotency_keys::expires_at.gt(now))
        .select((idempotency_keys::account_id, evo_store_sql::key_columns!(idempotency_keys)))
        .load::<(String, KeyRecord)>(connection)?;
    Ok(kept
        .into_iter()
        .find(|(account, _)| account == NO_ACCOUNT || accounts.contains_str(account))
        .map(|(_, record)| record))
}

/// Keeps the answer of a keyed request, in the transaction of its change (an expired
/// answer under the same key is replaced).
fn keep_answer(
    connection: &mut SqliteConnection,
    idempotency: Option<&Idempotency>,
    account_id: &str,
    outcome: Result<&Session, &SessionError>,
) -> QueryResult<()> {
    let Some(request) = idempotency else { return Ok(()) };
    let record = KeyRecord::of(request, outcome);
    statements::KeepAnswer {
        account_id,
        scope: &request.scope,
        key: &request.key,
        record: &record,
        expires_at: request.expires_at,
    }
    .execute(connection)?;
    Ok(())
}

/// One change in one `BEGIN IMMEDIATE` transaction: load, decide (evo-store-sql's
/// [`decide`], the same step as PostgreSQL's), execute the writes.
fn change_session(
    connection: &mut SqliteConnection,
    outbox: &Outbox,
    request: ChangeRequest<'_>,
) -> Result<(Session, EventId), ChangeFailure> {
    let ChangeRequest { id, actor, command, if_version, idempotency, now } = request;
    // A keyed refusal is committed with its answer; the closure returns it as `Ok(Err(..))`.
    let outcome = write_transaction(connection, |connection| {
        if let Some(refusal) = answered_before(connection, idempotency, actor.visible_accounts(), now)? {
            return Err(ChangeFailure::Keyed(refusal));
        }
        let loaded = load(connection, id.as_str(), actor.visible_accounts())?;
        // The account a keyed answer is kept under: the session's, or none when none is visible.
        let account = loaded.as_ref().map_or_else(|| NO_ACCOUNT.to_owned(), |(h, _, _)| h.account_id.clone());
        match decide(loaded, actor, command, if_version, now, outbox) {
            Ok((session, writes)) => {
                let event_id = write_change(connection, writes)?;
                keep_answer(connection, idempotency, &account, Ok(&session))?;
                Ok(Ok((session, event_id)))
            }
            Err(Refusal::Rejected(rejected)) => {
                keep_answer(connection, idempotency, &account, Err(&rejected))?;
                Ok(Err(rejected))
            }
            Err(Refusal::Corrupt(corrupt)) => Err(ChangeFailure::Corrupt(corrupt.to_string())),
        }
    })?;
    outcome.map_err(ChangeFailure::Rejected)
}

/// The writes of a change, each row by its key (account first). `position` and `seq` go on
/// from the session's last (the write lock of `BEGIN IMMEDIATE` is held).
fn write_change(connection: &mut SqliteConnection, writes: ChangeWrites) -> Result<EventId, ChangeFailure> {
    let (account, id) = (writes.account_id.as_str(), writes.session_id.as_str());
    statements::UpdateHeader {
        account_id: account,
        session_id: id,
        header: &writes.header,
        version_read: writes.version_read,
    }
    .execute(connection)?;
    match &writes.member {
        MemberWrite::Delete { identity_key } => {
            diesel::delete(
                session_members::table
                    .filter(session_members::account_id.eq(account))
                    .filter(session_members::session_id.eq(id))
                    .filter(session_members::identity_key.eq(identity_key)),
            )
            .execute(connection)?;
        }
        MemberWrite::Insert(member) => {
            let last = session_members::table
                .filter(session_members::account_id.eq(account))
                .filter(session_members::session_id.eq(id))
                .select(diesel::dsl::max(session_members::position))
                .get_result::<Option<i64>>(connection)?;
            let inserted = diesel::insert_into(session_members::table)
                .values((
                    evo_store_sql::member_values!(session_members, account, id, (**member).clone()),
                    session_members::position.eq(last.unwrap_or(0) + 1),
                ))
                .execute(connection);
            match inserted {
                Err(error) if is_unique_violation(&error, "session_members.") => {
                    return Err(ChangeFailure::Rejected(writes.duplicate_member()));
                }
                other => {
                    other?;
                }
            }
        }
        MemberWrite::Unchanged => {}
    }
    let last = session_log::table
        .filter(session_log::account_id.eq(account))
        .filter(session_log::session_id.eq(id))
        .select(diesel::dsl::max(session_log::seq))
        .get_result::<Option<i64>>(connection)?;
    diesel::insert_into(session_log::table)
        .values((
            session_log::account_id.eq(account),
            session_log::session_id.eq(id),
            session_log::seq.eq(last.unwrap_or(0) + 1),
            session_log::date.eq(writes.log_entry.date),
            session_log::message.eq(&writes.log_entry.message),
        ))
        .execute(connection)?;
    Ok(append_event(connection, writes.event)?)
}

#[async_trait]
impl SessionRepository for SqliteSessionRepository {
    async fn insert(
        &self,
        session: &Session,
        actor: &Actor,
        idempotency: Option<Idempotency>,
    ) -> Result<(), UpdateError> {
        let event = self.outbox.record(&SessionEvent::session_created(session, actor));
        self.outbox.check_new_session(session, &event)?;
        let session = session.clone();
        let inserted = self
            .writer
            .change(
                move |connection| {
                    Ok(insert_session(connection, &session, event.clone(), idempotency.as_ref()))
                },
                database_failed,
            )
            .await?;
        match inserted {
            Ok(event_id) => {
                self.signal.raise(event_id);
                Ok(())
            }
            Err(ChangeFailure::Database(error)) if is_unique_violation(&error, "sessions.id") => {
                Err(RepositoryError::AlreadyExists.into())
            }
            Err(failure) => Err(failure.into()),
        }
    }

    async fn find(&self, id: &SessionId, actor: &Actor) -> Result<Option<Session>, RepositoryError> {
        let (id, actor) = (id.as_str().to_owned(), actor.clone());
        // One deferred (read) transaction: header, members and log from one snapshot.
        let loaded = self
            .run(move |connection| {
                connection.transaction(|connection| load(connection, &id, actor.visible_accounts()))
            })
            .await?;
        match loaded {
            None => Ok(None),
            Some((header, members, log)) => restore_session(header, members, log)
                .map(Some)
                .map_err(|corrupt| RepositoryError::Internal(corrupt.to_string())),
        }
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
        let (id, actor, command, outbox) = (id.clone(), actor.clone(), command.clone(), self.outbox.clone());
        let changed = self
            .writer
            .change(
                move |connection| {
                    let request = ChangeRequest {
                        id: &id,
                        actor: &actor,
                        command: &command,
                        if_version: if_version.as_ref(),
                        idempotency: idempotency.as_ref(),
                        now,
                    };
                    Ok(change_session(connection, &outbox, request))
                },
                database_failed,
            )
            .await?;
        let (session, event_id) = changed?;
        self.signal.raise(event_id);
        Ok(session)
    }

    async fn has_kept_answer(
        &self,
        idempotency: &Idempotency,
        actor: &Actor,
        now: Timestamp,
    ) -> Result<bool, RepositoryError> {
        let (request, actor) = (idempotency.clone(), actor.clone());
        self.run(move |connection| {
            Ok(kept_answer(connection, &request, actor.visible_accounts(), now)?.is_some())
        })
        .await
    }

    async fn purge_expired_keys(&self, now: Timestamp, limit: u32) -> Result<u64, RepositoryError> {
        let purged = self
            .run_writing(move |connection| {
                diesel::sql_query(
                    "DELETE FROM idempotency_keys WHERE rowid IN \
                     (SELECT rowid FROM idempotency_keys WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)",
                )
                .bind::<diesel::sql_types::TimestamptzSqlite, _>(now)
                .bind::<diesel::sql_types::Integer, _>(i32::try_from(limit).unwrap_or(i32::MAX))
                .execute(connection)
            })
            .await?;
        Ok(purged as u64)
    }

    async fn ping(&self) -> Result<(), RepositoryError> {
        self.run(|connection| connection.batch_execute("SELECT 1")).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_connection_syncs_each_commit_to_disk() {
        #[derive(QueryableByName)]
        struct Synchronous {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            synchronous: i32,
        }
        let folder = std::env::temp_dir().join(format!("evo-sqlite-pragmas-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        let path = folder.join("pragmas.db");
        let mut connection = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        connection.batch_execute(&connection_pragmas(Duration::from_secs(1))).unwrap();
        let mode: Synchronous = diesel::sql_query("PRAGMA synchronous").get_result(&mut connection).unwrap();
        // 2 is FULL: in WAL mode NORMAL (1) may lose the last commits on power loss.
        assert_eq!(mode.synchronous, 2);
        drop(connection);
        let _ = std::fs::remove_dir_all(folder);
    }
}
