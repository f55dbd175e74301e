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
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use evo_domain::SessionEvent;
use evo_domain::{Actor, IfVersion, Session, SessionCommand, SessionId, Timestamp, VisibleAccounts};
use evo_ports::{
    ChangeOutcome, Idempotency, KeptAnswer, MemberSessions, RepositoryError, SessionPage, SessionRepository,
    SessionSearch, UpdateError,
};
use evo_store_sql::search::{assemble, page_of};
use evo_store_sql::{ChangeRequest, Outbox, kept_answer_of, restore_session};
use futures_util::FutureExt;

use crate::change::{Attempt, RunningChange, SentCommit, change_session, insert_session};
use crate::config::PgConfig;
use crate::connection::ConnectionGuard;
use crate::error::{Failure, PgStoreError, pool_failure};
use crate::idempotency::{keep_answer_once, kept_answer};
use crate::load::find_session;
use crate::pool::build_pool;
use crate::search::{search_sessions, sessions_with_member};
use crate::transaction::{Control, Protocol, control};

/// How often a change is tried when it meets a transient conflict.
const MAX_ATTEMPTS: usize = 3;
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
    pub(crate) query_deadline: Duration,
    pub(crate) protocol: Protocol,
    outbox: Outbox,
    /// Changes of this instance in flight (shared by every worker's copy): a change alone
    /// tries to number its event itself (see `ChangeWrite::of`).
    running_changes: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Numbers committed events and tells every instance (see [`crate::outbox`]).
    pub(crate) events: crate::outbox::EventNumbering,
    /// The standby searches read while it is fresh enough (see [`crate::replica`]).
    replica: Option<crate::replica::Replica>,
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
            running_changes: Default::default(),
            events: crate::outbox::EventNumbering::start(&config)?,
            replica: config
                .replica_url
                .as_deref()
                .map(|url| crate::replica::Replica::start(&config, url, config.replica_max_lag))
                .transpose()?,
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
    /// (health pool, outbox, event numbering) stays shared.
    pub fn per_worker(&self, workers: usize) -> Result<Vec<Self>, PgStoreError> {
        let workers = workers.max(1);
        let size = self.config.pool_size.div_ceil(workers).max(1);
        let config = PgConfig { pool_size: size, ..(*self.config).clone() };
        (0..workers).map(|_| Ok(Self { pool: build_pool(&config)?, ..self.clone() })).collect()
    }

    pub(crate) async fn checkout(&self) -> Result<ConnectionGuard, Failure> {
        self.pool.get().await.map(ConnectionGuard::new).map_err(pool_failure)
    }

    /// [`SessionRepository::find`] among `accounts`: one snapshot, one round trip.
    pub(crate) async fn find_among(
        &self,
        id: &SessionId,
        accounts: VisibleAccounts<'_>,
    ) -> Result<Option<Session>, RepositoryError> {
        let guard = self.checkout().await.map_err(Failure::into_repository_error)?;
        let loaded = self
            .within_deadline(find_session(guard.connection(), self.protocol, id.as_str(), accounts))
            .await;
        let loaded = guard.settle(loaded).map_err(Failure::into_repository_error)?;
        match loaded {
            None => Ok(None),
            Some((header, members, log)) => restore_session(header, members, log)
                .map(Some)
                .map_err(|corrupt| RepositoryError::Internal(corrupt.to_string())),
        }
    }

    /// Awaits `work` within the query deadline (a silent network must not hang a request).
    pub(crate) async fn within_deadline<T>(
        &self,
        work: impl Future<Output = Result<T, Failure>>,
    ) -> Result<T, Failure> {
        tokio::time::timeout(self.query_deadline, work).await.unwrap_or_else(|_| {
            Err(Failure::Unavailable(format!("PostgreSQL did not answer within {:?}", self.query_deadline)))
        })
    }
}

#[async_trait]
impl SessionRepository for PgSessionRepository {
    async fn insert(
        &self,
        session: &Session,
        actor: &Actor,
        idempotency: Option<Idempotency>,
    ) -> Result<ChangeOutcome<()>, UpdateError> {
        let idempotency = idempotency.as_ref();
        let event = self.outbox.record(&SessionEvent::session_created(session, actor));
        self.outbox.check_new_session(session, &event)?;
        let mut guard = self.checkout().await.map_err(Failure::into_repository_error)?;
        let xid = OnceLock::new();
        let insert = insert_session(guard.connection(), self.protocol, session, event, idempotency, &xid);
        let inserted = self.within_deadline(insert).await;
        if let Ok(Some(verdict)) = inserted {
            guard.release_to_pool();
            return verdict.into_outcome();
        }
        let inserted = inserted.map(|_| ());
        if matches!(inserted, Err(Failure::AlreadyExists)) {
            // The duplicate aborted the transaction and the COMMIT after it rolled back.
            guard.release_to_pool();
        }
        let inserted = match guard.settle(inserted) {
            Err(Failure::Unavailable(reason)) => {
                self.settle_lost_insert(session, xid.get().copied(), reason).await
            }
            other => other,
        };
        inserted.map_err(Failure::into_repository_error)?;
        self.events.committed();
        Ok(ChangeOutcome::Applied(()))
    }

    async fn kept_answer(
        &self,
        idempotency: &Idempotency,
        actor: &Actor,
        now: Timestamp,
    ) -> Result<Option<KeptAnswer>, UpdateError> {
        let guard = self.checkout().await.map_err(Failure::into_repository_error)?;
        let connection = guard.connection();
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
            QueryResult::Ok(kept)
        };
        let kept = self.within_deadline(lookup.map(|r| r.map_err(Failure::from))).await;
        let kept = guard.settle(kept).map_err(Failure::into_repository_error)?;
        kept_answer_of(kept, idempotency)
    }

    async fn keep_answer(
        &self,
        idempotency: &Idempotency,
        answer: &KeptAnswer,
        now: Timestamp,
    ) -> Result<ChangeOutcome<()>, UpdateError> {
        let guard = self.checkout().await.map_err(Failure::into_repository_error)?;
        let kept = self
            .within_deadline(keep_answer_once(guard.connection(), self.protocol, idempotency, answer, now))
            .await;
        match guard.settle(kept).map_err(Failure::into_repository_error)? {
            None => Ok(ChangeOutcome::Applied(())),
            Some(earlier) => earlier.into_outcome(),
        }
    }

    async fn search(&self, search: &SessionSearch) -> Result<SessionPage, RepositoryError> {
        // A fresh replica first; one that fails leaves the search to the primary (docs/api.md,
        // "ListSessions": never staler than EVO_REPLICA_MAX_LAG_MS).
        if let Some(replica) = &self.replica
            && let Some(pool) = replica.usable()
        {
            let on_replica = async {
                let guard = pool.get().await.map(ConnectionGuard::new).map_err(pool_failure)?;
                let rows =
                    self.within_deadline(search_sessions(guard.connection(), self.protocol, search)).await;
                guard.settle(rows)
            };
            match on_replica.await {
                Ok((headers, count, members)) => {
                    return page_of(search, headers, members, count)
                        .map_err(|corrupt| RepositoryError::Internal(corrupt.to_string()));
                }
                Err(failure) => {
                    tracing::warn!(reason = ?failure, "the replica failed a search; reading the primary");
                    replica.failed();
                }
            }
        }
        let guard = self.checkout().await.map_err(Failure::into_repository_error)?;
        let rows = self.within_deadline(search_sessions(guard.connection(), self.protocol, search)).await;
        let (headers, count, members) = guard.settle(rows).map_err(Failure::into_repository_error)?;
        page_of(search, headers, members, count)
            .map_err(|corrupt| RepositoryError::Internal(corrupt.to_string()))
    }

    async fn sessions_with_member(&self, query: &MemberSessions) -> Result<Vec<Session>, RepositoryError> {
        let guard = self.checkout().await.map_err(Failure::into_repository_error)?;
        let rows = self.within_deadline(sessions_with_member(guard.connection(), self.protocol, query)).await;
        let (headers, members) = guard.settle(rows).map_err(Failure::into_repository_error)?;
        assemble(headers, members).map_err(|corrupt| RepositoryError::Internal(corrupt.to_string()))
    }

    async fn purge_expired_keys(&self, now: Timestamp, limit: u32) -> Result<u64, RepositoryError> {
        let guard = self.checkout().await.map_err(Failure::into_repository_error)?;
        let mut connection = guard.connection();
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
        let purged = self.within_deadline(purge.map(|r| r.map_err(Failure::from))).await;
        Ok(guard.settle(purged).map_err(Failure::into_repository_error)? as u64)
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
    ) -> Result<ChangeOutcome<Session>, UpdateError> {
        let request = ChangeRequest {
            id,
            actor,
            command,
            if_version: if_version.as_ref(),
            idempotency: idempotency.as_ref(),
            now,
        };
        let running = RunningChange::enter(&self.running_changes);
        let mut last_conflict = String::new();
        for _ in 0..MAX_ATTEMPTS {
            let guard = self.checkout().await.map_err(Failure::into_repository_error)?;
            let mut sent = SentCommit::default();
            let attempt = self
                .within_deadline(change_session(
                    guard.connection(),
                    self.protocol,
                    &self.outbox,
                    request,
                    running.alone(),
                    &mut sent,
                ))
                .await;
            let attempt = match (guard.settle(attempt), sent) {
                (
                    Err(Failure::Unavailable(reason)),
                    SentCommit { xid: Some(xid), committed_row: Some(committed_row), changed: Some(session) },
                ) => self
                    .settle_lost_commit(xid, committed_row, reason)
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
                    return Ok(ChangeOutcome::Applied(*session));
                }
                Ok(Attempt::Rejected(refusal)) => return Err(UpdateError::Rejected(refusal)),
                Ok(Attempt::Keyed(verdict)) => return verdict.into_outcome(),
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
        let guard = self.health_pool.get().await.map(ConnectionGuard::new).map_err(pool_failure);
        let guard = guard.map_err(Failure::into_repository_error)?;
        // A simple query: one round trip, nothing prepared (fine behind PgBouncer too).
        let mut simple = guard.connection();
        let pinged =
            self.within_deadline(simple.batch_execute("SELECT 1").map(|r| r.map_err(Failure::from))).await;
        guard.settle(pinged).map_err(Failure::into_repository_error)
    }
}
